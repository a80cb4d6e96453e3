"""Command line of scripts/validate-artifacts; see that script for the usage."""

from __future__ import annotations

import argparse
import os
import sys
import unittest
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import validate  # noqa: E402


class _LineResult(unittest.TextTestResult):
    """Prints one line per test, in the same shape as the validation checks."""

    def __init__(self, stream, descriptions, verbosity):
        super().__init__(stream, descriptions, 0)
        self.out = stream
        self.passed = 0

    def _name(self, test) -> str:
        return f"self-test: {test._testMethodName}"

    def addSuccess(self, test):
        super().addSuccess(test)
        self.passed += 1
        self.out.write(f"ok   {self._name(test)}\n")

    def addFailure(self, test, err):
        super().addFailure(test, err)
        self.out.write(f"FAIL {self._name(test)}\n")
        self.out.write("".join("       " + line + "\n" for line in self._exc_info_to_string(err, test).splitlines()))

    def addError(self, test, err):
        super().addError(test, err)
        self.out.write(f"FAIL {self._name(test)} (error)\n")
        self.out.write("".join("       " + line + "\n" for line in self._exc_info_to_string(err, test).splitlines()))

    def addSkip(self, test, reason):
        super().addSkip(test, reason)
        self.out.write(f"skip {self._name(test)}: {reason}\n")

    def printErrors(self):
        pass


def run_self_tests() -> tuple[int, int, int]:
    import test_validate

    suite = unittest.defaultTestLoader.loadTestsFromModule(test_validate)
    result = _LineResult(unittest.runner._WritelnDecorator(sys.stdout), False, 0)
    suite.run(result)
    failed = len(result.failures) + len(result.errors)
    return result.passed, failed, len(result.skipped)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(
        prog="validate-artifacts",
        description="Statically validates Dockerfile, docker-compose.yml, charts/flow-stream and "
                    "azure-pipelines.yaml against the workspace's binaries and configuration keys.")
    parser.add_argument("--root", type=Path, default=HERE.parent.parent,
                        help="repository root to validate (default: this checkout)")
    helm = parser.add_mutually_exclusive_group()
    helm.add_argument("--helm", default=os.environ.get("FLOW_HELM") or None,
                      help="helm binary for the lint and template checks (default: $FLOW_HELM; "
                           "without one they are skipped)")
    helm.add_argument("--no-helm", action="store_true",
                      help="skip the helm checks, even when $FLOW_HELM is set")
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--self-test", action="store_true",
                      help="run only the validator's own tests")
    mode.add_argument("--no-self-test", action="store_true",
                      help="validate only, without the validator's own tests")
    args = parser.parse_args(argv)
    if args.no_helm:
        args.helm = None
        os.environ.pop("FLOW_HELM", None)
    if args.helm:
        # The self-tests that break the chart for helm find it here.
        os.environ["FLOW_HELM"] = args.helm

    passed = failed = skipped = 0
    if not args.self_test:
        print(f"validating artifacts of {args.root.resolve()}")
        report = validate.run_checks(args.root, helm=args.helm)
        for line in report.lines():
            print(line)
        for c in report.checks:
            if c.status == "ok":
                passed += 1
            elif c.status == "FAIL":
                failed += 1
            else:
                skipped += 1
        print(f"validation: {passed} checks ok, {failed} failed, {skipped} skipped")
    if not args.self_test and not args.no_self_test or args.self_test:
        if not args.no_self_test:
            p, f, s = run_self_tests()
            print(f"self-tests: {p} ok, {f} failed, {s} skipped")
            passed, failed, skipped = passed + p, failed + f, skipped + s
    tail = f", {skipped} skipped" if skipped else ""
    print(f"{passed} passed, {failed} failed{tail}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
