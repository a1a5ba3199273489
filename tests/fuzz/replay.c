/* SPDX-License-Identifier: MIT */
/* Replay driver for fuzz targets (plain C, no libFuzzer needed): calls
 * LLVMFuzzerTestOneInput() on every file given, or on every file of every directory
 * given, in name order. A crash, sanitizer report or abort fails the ctest; so does
 * an empty corpus (a replay that tests nothing must not pass).
 *
 *     fuzz_<name>_replay tests/fuzz/corpus/<name>
 */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

static int run_file (const char *path)
{
    FILE *f = fopen (path, "rb");
    if (!f) {
        perror (path);
        return -1;
    }
    size_t cap = 4096, len = 0, n;
    uint8_t *buf = malloc (cap);
    while (buf && (n = fread (buf + len, 1, cap - len, f)) > 0) {
        len += n;
        if (len == cap) {
            uint8_t *p = realloc (buf, cap *= 2);
            if (!p) {
                free (buf);
                buf = NULL;
            }
            buf = p;
        }
    }
    fclose (f);
    if (!buf) {
        fprintf (stderr, "%s: out of memory\n", path);
        return -1;
    }
    /* An exact-size copy, so reading past the input is caught by ASan. */
    uint8_t *exact = malloc (len ? len : 1);
    memcpy (exact, buf, len);
    free (buf);
    LLVMFuzzerTestOneInput (exact, len);
    free (exact);
    return 0;
}

static int by_name (const void *a, const void *b)
{
    return strcmp (*(char *const *)a, *(char *const *)b);
}

int main (int argc, char **argv)
{
    size_t count = 0;
    for (int i = 1; i < argc; i++) {
        struct stat st;
        if (stat (argv[i], &st) < 0) {
            perror (argv[i]);
            return 1;
        }
        if (!S_ISDIR (st.st_mode)) {
            if (run_file (argv[i]) < 0)
                return 1;
            count++;
            continue;
        }
        DIR *d = opendir (argv[i]);
        if (!d) {
            perror (argv[i]);
            return 1;
        }
        char **names = NULL;
        size_t n = 0;
        struct dirent *de;
        while ((de = readdir (d))) {
            if (de->d_name[0] == '.')
                continue;
            names = realloc (names, (n + 1) * sizeof (*names));
            names[n++] = strdup (de->d_name);
        }
        closedir (d);
        qsort (names, n, sizeof (*names), by_name);
        for (size_t k = 0; k < n; k++) {
            char path[4096];
            snprintf (path, sizeof (path), "%s/%s", argv[i], names[k]);
            if (run_file (path) < 0)
                return 1;
            count++;
            free (names[k]);
        }
        free (names);
    }
    if (count == 0) {
        fprintf (stderr, "replay: no inputs\n");
        return 1;
    }
    printf ("replay: %zu inputs ok\n", count);
    return 0;
}
