/* SPDX-License-Identifier: MIT */
/* `loom ds ...`: the dataset subcommands, one file each, and what they share. */
#ifndef LOOM_CMD_DS_H
#define LOOM_CMD_DS_H

#include <stdio.h>
#include <unistd.h>

#include <loom/dataset.h>

#include "cmd.h"

extern const struct cmd cmd_ds_ls;
extern const struct cmd cmd_ds_info;
extern const struct cmd cmd_ds_head;
extern const struct cmd cmd_ds_verify;
extern const struct cmd cmd_ds_recompute;
extern const struct cmd cmd_ds_gc;
extern const struct cmd cmd_ds_export;
extern const struct cmd cmd_ds_import;

/* Open dataset 'path' for a subcommand (no MPI), checking its schema against
 * 'expect' (a schema text, or NULL). Prints one error line and returns NULL on
 * failure.
 */
loom_ds_t *
ds_open_or_complain (const struct cmd *cmd, const char *path, const char *expect);

/* Write record 'r' of partition 'pr' as one CSV line (RFC 4180 quoting) to 'f'. */
void ds_csv_record (FILE *f,
                    const loom_ds_schema_t *s,
                    const loom_ds_part_t *pr,
                    size_t r);

/* Write the CSV header line (column names). */
void ds_csv_header (FILE *f, const loom_ds_schema_t *s);

/* "1.5 GiB" style size into 'buf'. */
const char *ds_human_bytes (unsigned long long bytes, char buf[32]);

#endif
