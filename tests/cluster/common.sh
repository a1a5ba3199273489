# SPDX-License-Identifier: MIT
# Helpers shared by the cluster scripts (netns-up/down, slurm-up/down, nsrsh) and tests.
# Sourced, never run. Everything a cluster creates lives in one instance directory
# under $LOOM_CLUSTER_ROOT, named in its 'state' file, so that several clusters (for
# example two engineers' test runs) can exist side by side without sharing anything.

# Not under /tmp: emulated Slurm nodes have their own /tmp, and must see the instance.
LOOM_CLUSTER_ROOT=${LOOM_CLUSTER_ROOT:-/var/tmp/loom-cluster}
LOOM_NET=10.77.0 # host addresses; only ever on our own bridges

# cl_say WHO MSG...: one line on stderr.
cl_say () {
    local who=$1
    shift
    echo "$who: $*" >&2
}

# cl_alive PID: the process exists and is not a zombie (kill -0 succeeds on zombies,
# and PID 1 on this class of machine never reaps the orphans it adopts).
cl_alive () {
    local st
    st=$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null) || return 1
    [ -n "$st" ] && [ "$st" != Z ]
}

# cl_zombie PID: the process is a zombie.
cl_zombie () {
    [ "$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null)" = Z ]
}

# cl_can_namespace: we may create network, UTS, mount and PID namespaces. Prints why
# not on stderr and returns 1 otherwise.
cl_can_namespace () {
    if [ "$(id -u)" -ne 0 ]; then
        echo "needs root (network namespaces and slurmd need CAP_SYS_ADMIN/CAP_NET_ADMIN)" >&2
        return 1
    fi
    if ! unshare --net --uts --mount --pid --fork true 2>/dev/null; then
        echo "cannot create namespaces here (unshare --net --uts --mount --pid failed)" >&2
        return 1
    fi
    return 0
}

# cl_new_instance KIND: make a fresh instance directory, print its path.
cl_new_instance () {
    mkdir -p "$LOOM_CLUSTER_ROOT"
    chmod 755 "$LOOM_CLUSTER_ROOT"
    mktemp -d "$LOOM_CLUSTER_ROOT/$1.XXXXXX"
}

# cl_id DIR: the short instance id used in namespace names ("net.Ab12Cd" -> "Ab12Cd").
cl_id () {
    local b
    b=$(basename "$1")
    echo "${b#*.}"
}

# cl_leftover_shm DIR...: list files left in the given per-host /dev/shm directories.
cl_leftover_shm () {
    local d
    for d in "$@"; do
        [ -d "$d" ] && find "$d" -mindepth 1 -maxdepth 1 -printf "$d/%f\n"
    done
    return 0
}

# cl_reap_stale: tear down instances whose owner process is gone (a test killed by a
# timeout cannot run its own trap). Instances of live owners are left alone.
cl_reap_stale () {
    local here d owner
    here=$(dirname "${BASH_SOURCE[0]}")
    for d in "$LOOM_CLUSTER_ROOT"/net.* "$LOOM_CLUSTER_ROOT"/slurm.*; do
        [ -f "$d/owner" ] || continue
        owner=$(cat "$d/owner")
        cl_alive "$owner" && continue
        cl_say reap "owner $owner of $d is gone: tearing it down"
        case $(basename "$d") in
        net.*) LOOM_NETNS=$d "$here/netns-down" --quiet || true ;;
        slurm.*) LOOM_SLURM=$d "$here/slurm-down" --quiet || true ;;
        esac
    done
}

# cl_switch NS: a "switch" namespace NS holding bridge br0 (the root namespace is
# never touched: no interface, route or address is added there).
cl_switch () {
    ip netns add "$1"
    ip -n "$1" link set lo up
    ip -n "$1" link add br0 type bridge
    ip -n "$1" link set br0 up
}

# cl_host SWITCH NS PORT ADDR: namespace NS with lo and eth0 = ADDR/24, plugged into
# br0 of SWITCH through port PORT (a veth made with one end in each namespace).
cl_host () {
    ip netns add "$2"
    ip link add name "$3" netns "$1" type veth peer name eth0 netns "$2"
    ip -n "$1" link set "$3" master br0 up
    ip -n "$2" link set lo up
    # IPv4 only: no IPv6 link-local chatter or addresses for Open MPI to try.
    nsenter --net="/run/netns/$2" sysctl -q -w net.ipv6.conf.all.disable_ipv6=1 \
        net.ipv6.conf.default.disable_ipv6=1 >/dev/null
    ip -n "$2" addr add "$4/24" dev eth0
    ip -n "$2" link set eth0 up
}

# cl_wait_carrier NS...: wait until eth0 of each namespace has carrier (usable then:
# IPv4 has no duplicate address detection). Returns 1 after 5 s without.
cl_wait_carrier () {
    local ns
    for ns in "$@"; do
        for _ in $(seq 1 100); do
            ip -n "$ns" -br link show eth0 | grep -q LOWER_UP && break
            sleep 0.05
        done
        ip -n "$ns" -br link show eth0 | grep -q LOWER_UP || {
            cl_say cluster "$ns: eth0 has no carrier"
            return 1
        }
    done
}
