/* SPDX-License-Identifier: MIT */
/* `loom version`: Loom's version and the versions of the libraries it runs on. */
#include <hwloc.h>
#include <jansson.h>
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#include <loom/version.h>

#include "cmd.h"

enum { OPT_JSON = 256 };

static const struct cmd_option options[] = {
    {"json", 0, OPT_JSON, NULL, "Print a JSON object for scripts"},
    {NULL, 0, 0, NULL, NULL},
};

static int version_main (const struct cmd *cmd, int argc, char **argv)
{
    int json = 0, c;
    const char *arg;
    while ((c = cmd_getopt (cmd, argc, argv, &arg)) != -1) {
        if (c == -2)
            return 1;
        if (c == OPT_JSON)
            json = 1;
    }
    if (optind < argc)
        return cmd_error (cmd, "unexpected argument '%s'", argv[optind]);

    /* MPI_Get_library_version may be called before MPI_Init. Keep its first line. */
    char mpi[MPI_MAX_LIBRARY_VERSION_STRING] = "";
    int len = 0;
    MPI_Get_library_version (mpi, &len);
    mpi[strcspn (mpi, "\n,")] = '\0';

    unsigned hw = hwloc_get_api_version ();
    char hwloc[32], xxh[32];
    snprintf (hwloc, sizeof (hwloc), "%u.%u.%u", hw >> 16, (hw >> 8) & 0xff, hw & 0xff);
    unsigned xv = XXH_versionNumber ();
    snprintf (xxh, sizeof (xxh), "%u.%u.%u", xv / 10000, (xv / 100) % 100, xv % 100);

    if (json) {
        json_t *o = json_pack ("{s:s, s:s, s:s, s:s, s:s}", "loom", LOOM_VERSION_STRING,
                               "mpi", mpi, "hwloc", hwloc, "jansson",
                               jansson_version_str (), "xxhash", xxh);
        char *s = o ? json_dumps (o, JSON_PRESERVE_ORDER) : NULL;
        if (!s)
            return cmd_error (cmd, "out of memory");
        printf ("%s\n", s);
        free (s);
        json_decref (o);
        return 0;
    }
    printf ("loom %s\n", LOOM_VERSION_STRING);
    printf ("  mpi:     %s\n", mpi);
    printf ("  hwloc:   %s\n", hwloc);
    printf ("  jansson: %s\n", jansson_version_str ());
    printf ("  xxhash:  %s\n", xxh);
    return 0;
}

const struct cmd cmd_version = {
    .name = "version",
    .usage = "[--json]",
    .summary = "Print Loom's version and the versions of its libraries",
    .fn = version_main,
    .options = options,
};
