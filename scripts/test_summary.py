#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-3-Clause
"""Count test results in Meson test logs (testlog.json, one JSON object per
test) and print "N passed, N failed[, N skipped]" as the last line.
Exits 1 when any test failed or when no log could be read."""
import json
import sys

PASS = {'OK', 'EXPECTEDFAIL'}
SKIP = {'SKIP'}


def main(paths):
    passed = failed = skipped = 0
    read_any = False
    for path in paths:
        try:
            with open(path, encoding='utf-8') as f:
                lines = f.readlines()
        except OSError as e:
            print(f'{path}: {e.strerror}', file=sys.stderr)
            failed += 1
            continue
        read_any = True
        for line in lines:
            line = line.strip()
            if not line:
                continue
            res = json.loads(line).get('result', 'ERROR')
            if res in PASS:
                passed += 1
            elif res in SKIP:
                skipped += 1
            else:
                failed += 1
    if not read_any:
        failed = max(failed, 1)
    tail = f', {skipped} skipped' if skipped else ''
    print(f'{passed} passed, {failed} failed{tail}')
    return 1 if failed else 0


if __name__ == '__main__':
    sys.exit(main(sys.argv[1:]))
