#!/bin/bash
# SPDX-License-Identifier: MIT
# loomd as root serving another user (members of --group): that user's tasks run as
# that user (setgid, initgroups, setuid); only a job's owner or root may cancel it or
# read its logs. Creates a real user and group, removes them at the end.
. "$(dirname "$0")/lib.sh"

if [ "$(id -u)" -ne 0 ] || ! command -v useradd >/dev/null; then
    echo "SKIP: needs root and useradd"
    exit 0
fi
U=loomt$$
G=loomg$$
X=loomx$$
groupadd "$G" && groupadd "$X" && useradd -M -N -g "$G" -G "$X" -s /bin/sh "$U" \
    || { echo "FAIL: cannot create test user" >&2; exit 1; }
cleanup_users () {
    cleanup_sched
    userdel "$U" 2>/dev/null
    groupdel "$G" 2>/dev/null
    groupdel "$X" 2>/dev/null
}
trap cleanup_users EXIT
UB=$(other_user_bin)
as_user () {
    # From a directory the user can enter: tasks start in the submitter's cwd.
    (cd "$TMP" && runuser -u "$U" -- env PATH="$UB:$PATH" LOOM_STATE_DIR="$S" "$@")
}

expect_ok "start with group" loom sched start --cores 2 --group "$G"
[ "$(stat -c '%a %G' "$S/loomd.sock")" = "660 $G" ] || fail "socket: $(stat -c '%a %G' "$S/loomd.sock")"
[ "$(stat -c '%a' "$S")" = 710 ] || fail "state dir mode $(stat -c %a "$S")"
expect_ok "root job" loom submit -- sleep 30
expect_ok "user job" as_user loom submit --shell -- 'id -u; id -g; id -G; echo $LOOM_JOB_ID'
expect_ok "user waits" as_user loom wait 2
expect_ok "user reads own logs" as_user loom logs 2
uid=$(id -u "$U")
gid=$(getent group "$G" | cut -d: -f3)
xgid=$(getent group "$X" | cut -d: -f3)
[ "$(sed -n 1p "$TMP/out")" = "$uid" ] || fail "task uid $(sed -n 1p "$TMP/out"), want $uid"
[ "$(sed -n 2p "$TMP/out")" = "$gid" ] || fail "task gid $(sed -n 2p "$TMP/out"), want $gid"
sed -n 3p "$TMP/out" | grep -qw "$xgid" || fail "supplementary group $xgid missing: $(sed -n 3p "$TMP/out")"
sed -n 3p "$TMP/out" | grep -qw 0 && fail "root's groups leaked into the task"
expect_error "denied cancel" "^loom: cancel: job 1 belongs to root: only its owner or root may cancel it$" \
    as_user loom cancel 1
expect_error "denied logs" "^loom: logs: job 1 belongs to another user" as_user loom logs 1
expect_error "denied filtered logs" "^loom: logs: job 1 belongs to another user" \
    as_user loom logs --all --rank 0 --grep . 1
expect_ok "still running" loom ps 1
expect_out "running" "^1 +root +batch +running"
expect_ok "root reads the user's logs" loom logs 2
expect_ok "user sees all jobs" as_user loom ps --all --user root
expect_out "root's job listed" "^1 +root"
expect_error "user cannot stop loomd" "^loom: sched: only root or the user running loomd may stop it$" \
    as_user loom sched stop
expect_ok "root cancels" loom cancel 1
expect_ok "stop" loom sched stop
finish
