#!/usr/bin/env python3
"""Generates a large Surefire-style JUnit XML report for the benchmarks (BENCHMARKS.md).

    gen_surefire.py --size 100M|1G|<bytes>[K|M|G] --kind cases|output [--seed N] OUT

Kinds:
  cases   many <testsuite>s as Maven Surefire writes them (xsi schema attributes, a
          <properties> block, zone-less timestamp="2026-11-26T10:00:00"), mostly small
          passing test cases; about 2% failures/errors with Java stack traces, 1% with
          <system-out>, 1% <skipped>, 0.3% <flakyFailure> and 0.2% <rerunFailure>.
  output  a few test cases and nearly all bytes captured output: <system-out> and
          <system-err> of hundreds of MB in a handful of cases (CDATA and escaped text).

The output is deterministic for a given seed and size. The last line printed on stdout is
`cases=N bytes=B` (N = number of <testcase> elements, needed for the RSS budget).
"""

import argparse
import random
import sys

TIMESTAMP = "2026-11-26T10:00:00"  # Surefire writes local time without a zone
SUITE_HEAD = (
    '<testsuite xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" '
    'xsi:noNamespaceSchemaLocation="https://maven.apache.org/surefire/maven-surefire-plugin/'
    'xsd/surefire-test-report-3.0.xsd" version="3.0" name="{name}" time="{time}" '
    'tests="{tests}" errors="{errors}" skipped="{skipped}" failures="{failures}" '
    'timestamp="' + TIMESTAMP + '" hostname="ci-runner-7">\n'
)
PROPERTIES = """  <properties>
    <property name="java.version" value="21.0.5"/>
    <property name="java.vendor" value="Eclipse Adoptium"/>
    <property name="os.name" value="Linux"/>
    <property name="os.arch" value="amd64"/>
    <property name="user.dir" value="/home/runner/work/app/app/{module}"/>
    <property name="file.encoding" value="UTF-8"/>
    <property name="surefire.test.class.path" value="/home/runner/work/app/app/{module}/target/test-classes:/home/runner/work/app/app/{module}/target/classes:/home/runner/.m2/repository/org/junit/jupiter/junit-jupiter-api/5.11.3/junit-jupiter-api-5.11.3.jar"/>
    <property name="maven.version" value="3.9.9"/>
  </properties>
"""

PACKAGES = ["core", "api", "billing", "catalog", "checkout", "search", "auth", "inventory",
            "shipping", "notifications", "reporting", "gateway"]
LAYERS = ["service", "web", "repository", "domain", "client", "util", "config", "events"]
NOUNS = ["Order", "Invoice", "Customer", "Cart", "Product", "Payment", "Session", "Token",
         "Account", "Shipment", "Price", "Discount", "Report", "Query", "Event", "Address"]
ROLES = ["Service", "Controller", "Repository", "Mapper", "Validator", "Client", "Handler",
         "Factory", "Parser", "Resolver"]
VERBS = ["should", "returns", "rejects", "handles", "creates", "updates", "deletes", "maps",
         "parses", "computes", "validates", "retries"]
OBJECTS = ["EmptyInput", "NullId", "DuplicateKey", "ExpiredToken", "LargePayload", "Unicode",
           "ZeroAmount", "NegativeQuantity", "MissingField", "ConcurrentUpdate", "Timeout",
           "ValidRequest", "UnknownCurrency", "PartialRefund", "LeapDay"]
CONDS = ["", "WhenCacheIsCold", "WhenUserIsAnonymous", "WithDefaultLocale", "OnSecondCall",
         "AfterRestart", "InTransaction"]
EXCEPTIONS = [
    ("org.opentest4j.AssertionFailedError", "expected: <{a}> but was: <{b}>"),
    ("java.lang.AssertionError", "Expecting actual not to be null"),
    ("java.lang.NullPointerException", 'Cannot invoke "String.length()" because "s" is null'),
    ("java.lang.IllegalStateException", "Connection pool exhausted after {a} ms"),
]
FRAMEWORK_FRAMES = [
    "org.junit.jupiter.api.AssertionFailureBuilder.build(AssertionFailureBuilder.java:151)",
    "org.junit.jupiter.api.AssertionFailureBuilder.buildAndThrow(AssertionFailureBuilder.java:132)",
    "org.junit.jupiter.api.AssertEquals.failNotEqual(AssertEquals.java:197)",
    "org.junit.jupiter.api.AssertEquals.assertEquals(AssertEquals.java:182)",
    "java.base/java.lang.reflect.Method.invoke(Method.java:580)",
    "org.junit.platform.commons.util.ReflectionUtils.invokeMethod(ReflectionUtils.java:767)",
    "org.junit.jupiter.engine.execution.MethodInvocation.proceed(MethodInvocation.java:60)",
    "org.junit.jupiter.engine.execution.InvocationInterceptorChain$ValidatingInvocation.proceed(InvocationInterceptorChain.java:131)",
    "org.junit.jupiter.engine.extension.TimeoutExtension.intercept(TimeoutExtension.java:156)",
    "org.junit.jupiter.engine.descriptor.TestMethodTestDescriptor.invokeTestMethod(TestMethodTestDescriptor.java:218)",
    "org.junit.platform.engine.support.hierarchical.ThrowableCollector.execute(ThrowableCollector.java:73)",
    "org.junit.platform.engine.support.hierarchical.NodeTestTask.executeRecursively(NodeTestTask.java:151)",
    "org.apache.maven.surefire.junitplatform.JUnitPlatformProvider.invoke(JUnitPlatformProvider.java:124)",
    "org.apache.maven.surefire.booter.ForkedBooter.main(ForkedBooter.java:507)",
]
LOG_LEVELS = ["INFO", "DEBUG", "WARN", "INFO", "INFO", "DEBUG", "TRACE", "ERROR"]
LOG_WORDS = ["request", "handled", "in", "ms", "cache", "miss", "for", "key", "user", "order",
             "committed", "transaction", "opened", "connection", "to", "db", "retrying",
             "payload", "size", "bytes", "<ok>", "status=200", "&", "done", "élan", "→"]


def parse_size(text):
    units = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30}
    t = text.strip().upper().removesuffix("IB").removesuffix("B")
    if t and t[-1] in units:
        return int(float(t[:-1]) * units[t[-1]])
    return int(t)


def esc(s):
    return s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


class Gen:
    def __init__(self, rnd):
        self.r = rnd
        self.cases = 0
        # A pool of log lines, reused to keep generation fast and the output deterministic.
        self.log_lines = [self.log_line(i) for i in range(4096)]

    def log_line(self, i):
        r = self.r
        words = " ".join(r.choice(LOG_WORDS) for _ in range(r.randint(4, 16)))
        return (f"2026-11-26 10:{i // 60 % 60:02d}:{i % 60:02d}.{r.randint(0, 999):03d} "
                f"[{r.choice(['main', 'pool-1-thread-2', 'worker-3'])}] "
                f"{r.choice(LOG_LEVELS):5} c.a.{r.choice(PACKAGES)}.{r.choice(NOUNS)}{r.choice(ROLES)} - {words}\n")

    def log(self, lines):
        r = self.r
        start = r.randrange(len(self.log_lines))
        return "".join(self.log_lines[(start + k) % len(self.log_lines)] for k in range(lines))

    def trace(self, cls, method, exc, msg):
        r = self.r
        simple = cls.rsplit(".", 1)[-1]
        frames = r.sample(FRAMEWORK_FRAMES[:4], 2) if exc.startswith("org.opentest4j") else []
        lines = [f"{exc}: {msg}"]
        lines += [f"\tat {f}" for f in frames]
        lines.append(f"\tat {cls}.{method}({simple}.java:{r.randint(20, 900)})")
        lines += [f"\tat {f}" for f in FRAMEWORK_FRAMES[4:4 + r.randint(4, 10)]]
        if r.random() < 0.3:
            lines.append(f"Caused by: java.io.IOException: socket closed\n\tat {cls}$Helper.call({simple}.java:12)")
            lines.append(f"\t... {r.randint(10, 60)} more")
        return "\n".join(lines) + "\n"

    def result(self, tag, cls, method, nested):
        """A <failure>/<error>-like element; `nested` puts the trace in <stackTrace>."""
        r = self.r
        exc, template = r.choice(EXCEPTIONS)
        msg = template.format(a=r.randint(1, 999), b=r.randint(1, 999))
        trace = esc(self.trace(cls, method, exc, msg))
        head = f'    <{tag} message="{esc(msg).replace(chr(34), "&quot;")}" type="{exc}">'
        if nested:
            out = ""
            if r.random() < 0.5:
                out = f"\n      <system-out><![CDATA[{self.log(r.randint(2, 20))}]]></system-out>"
            return f"{head}\n      <stackTrace>{trace}</stackTrace>{out}\n    </{tag}>\n"
        return f"{head}{trace}</{tag}>\n"

    def case_xml(self, cls, method):
        r = self.r
        self.cases += 1
        time = f"{r.random() * r.choice([0.01, 0.1, 1.0]):.3f}"
        head = f'  <testcase name="{method}" classname="{cls}" time="{time}"'
        x = r.random()
        if x < 0.955:
            return head + "/>\n", None
        if x < 0.965:
            kind = "error" if r.random() < 0.3 else "failure"
            body = self.result(kind, cls, method, nested=False)
            if r.random() < 0.3:
                body += f"    <system-out><![CDATA[{self.log(r.randint(5, 60))}]]></system-out>\n"
            return f"{head}>\n{body}  </testcase>\n", kind
        if x < 0.975:
            body = f"    <system-out><![CDATA[{self.log(r.randint(3, 80))}]]></system-out>\n"
            if r.random() < 0.3:
                body += f"    <system-err>{esc(self.log(r.randint(1, 10)))}</system-err>\n"
            return f"{head}>\n{body}  </testcase>\n", None
        if x < 0.985:
            msg = r.choice(["Disabled until JIRA-1234 is fixed", "Assumption failed: docker not available",
                            "", "flaky on CI"])
            body = f'    <skipped message="{msg}"/>\n' if msg else "    <skipped/>\n"
            return f"{head}>\n{body}  </testcase>\n", "skipped"
        if x < 0.995:
            kind = "error" if r.random() < 0.3 else "failure"
            body = self.result(kind, cls, method, nested=False)
            return f"{head}>\n{body}  </testcase>\n", kind
        if x < 0.998:
            body = "".join(self.result("flakyFailure", cls, method, nested=True)
                           for _ in range(r.randint(1, 2)))
            return f"{head}>\n{body}  </testcase>\n", None
        body = self.result("failure", cls, method, nested=False)
        body += "".join(self.result("rerunFailure", cls, method, nested=True)
                        for _ in range(r.randint(1, 2)))
        return f"{head}>\n{body}  </testcase>\n", "failure"

    def suite(self, index):
        r = self.r
        module = r.choice(PACKAGES)
        cls = (f"com.acme.{module}.{r.choice(LAYERS)}.{r.choice(NOUNS)}{r.choice(ROLES)}"
               f"{index}Test")
        n = r.randint(5, 120)
        parts, counts = [], {"failure": 0, "error": 0, "skipped": 0}
        seen = set()
        for i in range(n):
            method = f"{r.choice(VERBS)}{r.choice(OBJECTS)}{r.choice(CONDS)}"
            if method in seen or r.random() < 0.15:
                method = f"{method}({r.choice(['String', 'int', 'Locale'])})[{i + 1}]"
            seen.add(method)
            xml, kind = self.case_xml(cls, method)
            parts.append(xml)
            if kind:
                counts[kind] += 1
        head = SUITE_HEAD.format(name=cls, time=f"{r.random() * 20:.3f}", tests=n,
                                 errors=counts["error"], skipped=counts["skipped"],
                                 failures=counts["failure"])
        return head + PROPERTIES.format(module=module) + "".join(parts) + "</testsuite>\n"


def write_cases(out, size, gen):
    written = out.write('<?xml version="1.0" encoding="UTF-8"?>\n<testsuites>\n')
    i = 0
    while written < size - 64:
        written += out.write(gen.suite(i).encode())
        i += 1
    written += out.write(b"</testsuites>\n")
    return written


def write_output(out, size, gen):
    """A few suites of a few cases; nearly all bytes in a handful of huge outputs."""
    r = gen.r
    written = out.write('<?xml version="1.0" encoding="UTF-8"?>\n<testsuites>\n')
    big = 4  # cases carrying the captured output
    per_big = max((size - 200_000) // big, 1024)
    block_cdata = gen.log(20_000).encode()  # ~2 MB of log lines
    block_esc = esc(gen.log(20_000)).encode()
    for s in range(2):
        cls = f"com.acme.it.BigOutput{s}IT"
        written += out.write(SUITE_HEAD.format(name=cls, time="600.0", tests=50, errors=0,
                                               skipped=0, failures=1).encode())
        written += out.write(PROPERTIES.format(module="it").encode())
        for c in range(50):
            method = f"scenario{c:02d}"
            if c in (10, 40):
                gen.cases += 1
                failing = c == 40
                written += out.write(f'  <testcase name="{method}" classname="{cls}" time="300.5">\n'.encode())
                if failing:
                    written += out.write(gen.result("failure", cls, method, nested=False).encode())
                cdata = (s + c) % 2 == 0
                tag = "system-out" if c == 10 else "system-err"
                written += out.write(f"    <{tag}>".encode() + (b"<![CDATA[" if cdata else b""))
                block = block_cdata if cdata else block_esc
                left = per_big
                while left > 0:
                    chunk = block[:left] if left < len(block) else block
                    if left < len(block):
                        # Never end inside an entity or a UTF-8 sequence.
                        cut = chunk.rfind(b"\n") + 1
                        chunk = chunk[:cut] if cut > 0 else b""
                        left = 0
                    else:
                        left -= len(chunk)
                    written += out.write(chunk)
                written += out.write((b"]]>" if cdata else b"") + f"</{tag}>\n  </testcase>\n".encode())
            else:
                xml, _ = gen.case_xml(cls, method)
                written += out.write(xml.encode())
        written += out.write(b"</testsuite>\n")
    written += out.write(b"</testsuites>\n")
    return written


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--size", required=True, help="target size: 100M, 1G, or bytes")
    p.add_argument("--kind", choices=["cases", "output"], default="cases")
    p.add_argument("--seed", type=int, default=20261126)
    p.add_argument("out")
    a = p.parse_args()
    size = parse_size(a.size)
    gen = Gen(random.Random(a.seed))
    with open(a.out, "wb", buffering=1 << 20) as raw:
        class Out:
            @staticmethod
            def write(data):
                if isinstance(data, str):
                    data = data.encode()
                raw.write(data)
                return len(data)
        if a.kind == "cases":
            written = write_cases(Out, size, gen)
        else:
            written = write_output(Out, size, gen)
    print(f"cases={gen.cases} bytes={written}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
