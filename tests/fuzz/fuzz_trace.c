/* SPDX-License-Identifier: MIT */
/* Fuzz target for the trace reader: any bytes as a rank file or a merged job trace.
 * When they parse, walk everything a tool would (processes, spans, events), and run
 * the summary and the Perfetto export, which must not crash on any accepted input.
 * Built with libFuzzer (clang -fsanitize=fuzzer) to fuzz, and as a plain program
 * with the corpus replay driver as a ctest.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include <loom/trace_tools.h>

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
    loom_error_t error;
    loom_trace_t *t = loom_trace_parse (data, size, "fuzz", &error);
    if (!t)
        return 0;
    for (size_t p = 0; p < loom_trace_nprocs (t); p++) {
        struct loom_trace_proc_info pi;
        if (loom_trace_proc (t, p, &pi) < 0)
            abort ();
        for (size_t i = 0; i < loom_trace_nspans (t, p); i++) {
            struct loom_trace_span_info s;
            if (loom_trace_span (t, p, i, &s) < 0 || s.end_ns < s.start_ns)
                abort ();
        }
        for (size_t i = 0; i < loom_trace_nevents (t, p); i++) {
            struct loom_trace_event_info e;
            if (loom_trace_event (t, p, i, &e) < 0)
                abort ();
        }
    }
    free (loom_trace_summary (t, NULL, &error));
    if (loom_trace_export_size (t, NULL, &error) < 0)
        abort ();
    loom_trace_close (t);
    return 0;
}
