/* SPDX-License-Identifier: MIT */
/* Option parsing and help generated from the subcommand tables. */
#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cmd.h"

#define MAX_OPTIONS 64

int cmd_error (const struct cmd *cmd, const char *fmt, ...)
{
    va_list ap;
    fprintf (stderr, "loom: %s: ", cmd->name);
    va_start (ap, fmt);
    vfprintf (stderr, fmt, ap);
    va_end (ap);
    fputc ('\n', stderr);
    return 1;
}

static int is_short (int key)
{
    return key > 0 && key < 128 && isalnum (key);
}

void cmd_help (const struct cmd *cmd, FILE *f)
{
    fprintf (f, "Usage: loom %s %s\n\n%s\n", cmd->name, cmd->usage, cmd->summary);
    if (cmd->description)
        fprintf (f, "\n%s\n", cmd->description);
    fprintf (f, "\nOptions:\n");
    for (const struct cmd_option *o = cmd->options; o && o->name; o++) {
        char left[64];
        int n = 0;
        if (is_short (o->key))
            n = snprintf (left, sizeof (left), "-%c, ", o->key);
        else
            n = snprintf (left, sizeof (left), "    ");
        snprintf (left + n, sizeof (left) - (size_t)n, "--%s%s%s", o->name,
                  o->has_arg ? "=" : "", o->has_arg ? o->argname : "");
        fprintf (f, "  %-28s %s\n", left, o->help);
    }
    fprintf (f, "  %-28s %s\n", "-h, --help", "Show this help and exit");
}

int cmd_getopt (const struct cmd *cmd, int argc, char **argv, const char **arg)
{
    struct option longopts[MAX_OPTIONS + 2];
    char shortopts[3 * MAX_OPTIONS + 4];
    int n = 0, s = 0;

    shortopts[s++] = '+'; /* stop at the first operand (GNU: must come first) */
    shortopts[s++] = ':'; /* report a missing argument as ':' */
    for (const struct cmd_option *o = cmd->options; o && o->name && n < MAX_OPTIONS;
         o++) {
        longopts[n++] = (struct option){o->name, o->has_arg, NULL, o->key};
        if (is_short (o->key)) {
            shortopts[s++] = (char)o->key;
            if (o->has_arg)
                shortopts[s++] = ':';
        }
    }
    longopts[n++] = (struct option){"help", 0, NULL, 'h'};
    longopts[n] = (struct option){NULL, 0, NULL, 0};
    shortopts[s++] = 'h';
    shortopts[s] = '\0';

    opterr = 0;
    int c = getopt_long (argc, argv, shortopts, longopts, NULL);
    *arg = optarg;
    if (c == 'h') {
        cmd_help (cmd, stdout);
        exit (0);
    }
    if (c == '?') {
        if (optopt && is_short (optopt))
            cmd_error (cmd, "unknown option '-%c' (see 'loom %s --help')", optopt,
                       cmd->name);
        else
            cmd_error (cmd, "unknown option '%s' (see 'loom %s --help')",
                       argv[optind - 1], cmd->name);
        return -2;
    }
    if (c == ':') {
        cmd_error (cmd, "option '%s' needs a value", argv[optind - 1]);
        return -2;
    }
    return c;
}

long cmd_parse_count (const struct cmd *cmd, const char *opt, const char *value)
{
    char *end;
    errno = 0;
    long v = strtol (value, &end, 10);
    if (errno || end == value || *end || v <= 0 || v > INT_MAX) {
        cmd_error (cmd, "%s must be a positive integer, not '%s'", opt, value);
        return -1;
    }
    return v;
}

static char *join_path (const char *dir, size_t dirlen, const char *prog)
{
    size_t len = dirlen + 1 + strlen (prog) + 1;
    char *p = malloc (len);
    if (p)
        snprintf (p, len, "%.*s/%s", (int)dirlen, dir, prog);
    return p;
}

char *cmd_find_program (const char *name)
{
    char prog[256];
    if (snprintf (prog, sizeof (prog), "loom-%s", name) >= (int)sizeof (prog)
        || strchr (name, '/'))
        return NULL;

    /* Beside the running binary first, so a build tree or a prefix is self-contained.
     */
    char self[PATH_MAX];
    ssize_t len = readlink ("/proc/self/exe", self, sizeof (self) - 1);
    if (len > 0) {
        self[len] = '\0';
        char *slash = strrchr (self, '/');
        if (slash) {
            char *p = join_path (self, (size_t)(slash - self), prog);
            if (p && access (p, X_OK) == 0)
                return p;
            free (p);
        }
    }
    const char *path = getenv ("PATH");
    while (path && *path) {
        const char *colon = strchr (path, ':');
        size_t dirlen = colon ? (size_t)(colon - path) : strlen (path);
        if (dirlen > 0) {
            char *p = join_path (path, dirlen, prog);
            if (p && access (p, X_OK) == 0)
                return p;
            free (p);
        }
        path = colon ? colon + 1 : NULL;
    }
    return NULL;
}
