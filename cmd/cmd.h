/* SPDX-License-Identifier: MIT */
/* The `loom` front end: a table of subcommands with generated help. */
#ifndef LOOM_CMD_H
#define LOOM_CMD_H

#include <stdio.h>

/* One option of a subcommand. 'key' is the short option letter when it is printable
 * ASCII, otherwise a value >= 256 for a long-only option.
 */
struct cmd_option {
    const char *name; /* long name, without "--" */
    int has_arg;      /* 0 none, 1 required (getopt_long values) */
    int key;
    const char *argname; /* shown in help: --name=ARGNAME */
    const char *help;
};

struct cmd {
    const char *name;
    const char *usage;   /* after "loom <name> " */
    const char *summary; /* one line for the command list */
    int (*fn) (const struct cmd *cmd, int argc, char **argv);
    const struct cmd_option *options; /* terminated by an entry with name NULL */
    const char *description;          /* optional paragraph for --help */
};

/* Subcommands, one per file. */
extern const struct cmd cmd_version;
extern const struct cmd cmd_topo;
extern const struct cmd cmd_run;
extern const struct cmd cmd_launch;
extern const struct cmd cmd_gen;
extern const struct cmd cmd_trace;
extern const struct cmd cmd_sched;
extern const struct cmd cmd_submit;
extern const struct cmd cmd_ps;
extern const struct cmd cmd_cancel;
extern const struct cmd cmd_wait;
extern const struct cmd cmd_logs;
extern const struct cmd cmd_shares;
extern const struct cmd cmd_nodes;
extern const struct cmd cmd_top;
extern const struct cmd cmd_ds;
extern const struct cmd cmd_replay;

/* Iterate over options like getopt_long, built from cmd->options. Returns the option's
 * key and sets *arg, or -1 at the end of options (optind then indexes the first
 * operand), or -2 after printing a one-line error for an unknown option or missing
 * argument. --help is handled here: it prints the help and exits 0.
 */
int cmd_getopt (const struct cmd *cmd, int argc, char **argv, const char **arg);

/* Print the generated help of 'cmd' to 'f'. */
void cmd_help (const struct cmd *cmd, FILE *f);

/* Print "loom: <cmd>: <message>" on stderr. Returns the exit status 1. */
int cmd_error (const struct cmd *cmd, const char *fmt, ...)
    __attribute__ ((format (printf, 2, 3)));

/* Find the program 'loom-<name>': first beside the running loom binary, then on PATH.
 * Returns a malloc'ed path, or NULL if there is none.
 */
char *cmd_find_program (const char *name);

/* Start the MPI program loom-<app> with 'argv' (argc entries, the app's options plus
 * -n N / --np N, which is taken out) on N ranks: srun inside Slurm, mpirun otherwise.
 * Returns only on failure, after printing one line: the exit status 1.
 */
int cmd_exec_app (const struct cmd *cmd, const char *app, int argc, char **argv);

/* Parse a positive integer option value; on error prints one line and returns -1. */
long cmd_parse_count (const struct cmd *cmd, const char *opt, const char *value);

#endif
