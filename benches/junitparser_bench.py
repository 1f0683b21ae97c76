#!/usr/bin/env python3
"""Peer baseline for BENCHMARKS.md: parse a JUnit XML file with `junitparser` on lxml
(as EnricoMi/publish-unit-test-result-action does; `huge_tree=True` as that action sets
with `large_files: true`, without which lxml rejects text nodes over 10 MB) and iterate every test case, reading what a reporter reads
(name, classname, time, result, message, text, system-out/err).

    pip install junitparser lxml
    junitparser_bench.py FILE

Prints `cases=N failures=F`.
"""

import sys

from junitparser import JUnitXml, TestSuite
from lxml import etree


def parse(path):
    return etree.parse(path, etree.XMLParser(huge_tree=True))


def main():
    xml = JUnitXml.fromfile(sys.argv[1], parse_func=parse)
    suites = [xml] if isinstance(xml, TestSuite) else list(xml)
    cases = failures = 0
    for suite in suites:
        for case in suite:
            cases += 1
            _ = (case.name, case.classname, case.time, case.system_out, case.system_err)
            for result in case.result:
                failures += 1
                _ = (result.message, result.type, result.text)
    print(f"cases={cases} failures={failures}")


if __name__ == "__main__":
    main()
