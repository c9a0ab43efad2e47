#!/bin/sh
# Usage: sanitizer-reports.sh LOG_PATH_PREFIX TEST_STATUS
# Prints the report files a sanitizer wrote (LOG_PATH_PREFIX.<pid>) and exits non-zero if
# there is any, or if the test run itself failed (TEST_STATUS).
prefix=$1
status=${2:-0}
found=0
for report in "$prefix".*; do
    [ -f "$report" ] || continue
    found=$((found + 1))
    echo "==== $report"
    cat "$report"
done
if [ "$found" -gt 0 ]; then
    echo "$found sanitizer report file(s); summaries:"
    grep -h '^SUMMARY:' "$prefix".* | sort | uniq -c
    exit 1
fi
if [ "$status" -ne 0 ]; then
    echo "the test run failed (status $status)"
    exit "$status"
fi
echo "no sanitizer reports"
