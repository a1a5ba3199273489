#!/usr/bin/python3
# SPDX-License-Identifier: MIT
# Reference word count for the tests: words are runs of bytes other than the six
# C-locale spaces (bytes.split() splits on exactly those). Prints "word<TAB>count"
# lines sorted bytewise. Directories are walked recursively.
import os
import sys
from collections import Counter

counts = Counter()


def walk(path):
    if os.path.isdir(path):
        for name in sorted(os.listdir(path)):
            walk(os.path.join(path, name))
    else:
        with open(path, "rb") as f:
            counts.update(f.read().split())


for p in sys.argv[1:]:
    walk(p)
out = sys.stdout.buffer
for w in sorted(counts):
    out.write(w + b"\t" + str(counts[w]).encode() + b"\n")
