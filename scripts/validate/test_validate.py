"""Tests of the artifact validator: each breaks a copy of the repository in one way and checks that
exactly that break is reported (and nothing else).

Run by `scripts/validate-artifacts` (after the validation of the real checkout), by
`scripts/validate-artifacts --self-test`, or directly: `python3 scripts/validate/test_validate.py`.
The repository copied is the one this file lives in (or $FLOW_VALIDATE_ROOT).
"""

from __future__ import annotations

import os
import re
import shutil
import sys
import tempfile
import unittest
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import alertcheck  # noqa: E402
import helmcheck  # noqa: E402
import rustcli  # noqa: E402
import validate  # noqa: E402

REPO = Path(os.environ.get("FLOW_VALIDATE_ROOT", HERE.parent.parent)).resolve()
_IGNORE = shutil.ignore_patterns("target", ".git", ".stack", "__pycache__", "node_modules", "*.profraw")

CHECK_CONFIG = "chart: values.yaml config holds exactly the keys of defaults.yaml"
CHECK_SCHEMA = "chart: values.yaml satisfies values.schema.json"
CHECK_REFS = "chart: every .Values reference of the templates exists in values.yaml"
CHECK_CHART_ENV = "chart: FLOW__ variables name real keys; secrets come from secretKeyRef"
CHECK_CHART_ARGS = "chart: container commands name real binaries and subcommands; probes and resources"
CHECK_COMPOSE_ENV = "compose: FLOW__ variables name real configuration keys"
CHECK_COMPOSE_MOUNTS = "compose: mounted files exist and hold real configuration keys"
CHECK_SHIPPED = "config: shipped configuration files hold only real keys"
CHECK_DOCKER_COPY = "Dockerfile: COPY sources exist in the build context"
CHECK_DOCKER_BINS = "Dockerfile: builds and copies real workspace binaries"
CHECK_DOCKER_RUN = "Dockerfile: ENTRYPOINT, CMD and HEALTHCHECK run real commands as non-root"
CHECK_AZURE = "azure-pipelines: stages, SDP_VERSION and the commands it runs"


class RepoCopy(unittest.TestCase):
    """A fresh copy of the repository per test, and helpers to break it."""

    @classmethod
    def setUpClass(cls):
        cls._pristine_dir = tempfile.mkdtemp(prefix="flow-validate-")
        cls.pristine = Path(cls._pristine_dir) / "repo"
        shutil.copytree(REPO, cls.pristine, ignore=_IGNORE)

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls._pristine_dir, ignore_errors=True)

    def setUp(self):
        self._dir = tempfile.mkdtemp(prefix="flow-validate-")
        self.root = Path(self._dir) / "repo"
        # Hard links: cheap; every change goes through write(), which replaces the link.
        shutil.copytree(self.pristine, self.root, copy_function=os.link)

    def tearDown(self):
        shutil.rmtree(self._dir, ignore_errors=True)

    def edit(self, rel: str, old: str, new: str, count: int = 1) -> None:
        """Replaces `old` (a regex) by `new` in one file; the pattern must match."""
        path = self.root / rel
        text = path.read_text()
        changed, n = re.subn(old, new, text, count=count, flags=re.M)
        self.assertGreater(n, 0, f"{old!r} not found in {rel}")
        self.write(rel, changed)

    def write(self, rel: str, text: str) -> None:
        path = self.root / rel
        path.unlink()
        path.write_text(text)

    # The tests of the static checks run without helm (its checks are then skipped); those of the
    # helm checks set this to the helm binary.
    helm: str | None = None

    def failures(self) -> dict[str, list[str]]:
        report = validate.run_checks(self.root, helm=self.helm)
        return {c.name: c.errors for c in report.checks if c.errors}

    def assertOnlyFailures(self, expected: set[str]) -> dict[str, list[str]]:
        failed = self.failures()
        self.assertEqual(set(failed), expected, "\n".join(
            f"{name}: {errs}" for name, errs in failed.items()))
        return failed

    def assertAllMention(self, messages: list[str], *needles: str) -> None:
        self.assertTrue(messages)
        for m in messages:
            self.assertTrue(any(n in m for n in needles), f"{m!r} mentions none of {needles}")


class RealRepository(RepoCopy):
    def test_the_checkout_passes(self):
        self.assertOnlyFailures(set())


class ConfigKeys(RepoCopy):
    def test_renamed_key_in_chart_values_is_reported(self):
        self.edit("charts/flow-stream/values.yaml", r"^(\s+)flushMiB:", r"\1flushMB:")
        failed = self.assertOnlyFailures({CHECK_CONFIG, CHECK_SCHEMA})
        self.assertIn("values.yaml config.server.flushMB: no such key in "
                      "pipeline-common/src/config/defaults.yaml", failed[CHECK_CONFIG])
        self.assertIn("values.yaml config.server.flushMiB: missing "
                      "(pipeline-common/src/config/defaults.yaml has the key)", failed[CHECK_CONFIG])
        self.assertEqual(len(failed[CHECK_CONFIG]), 2)
        self.assertAllMention(failed[CHECK_SCHEMA], "flushMB", "flushMiB")

    def test_renamed_variable_in_compose_is_reported(self):
        self.edit("docker-compose.yml", r"FLOW__MQ__MQ_HOST:", "FLOW__MQ__BROKER_HOST:")
        failed = self.assertOnlyFailures({CHECK_COMPOSE_ENV})
        # The variable is in the anchor shared by pipeline-mgmt and pipeline-worker.
        self.assertEqual(len(failed[CHECK_COMPOSE_ENV]), 2)
        self.assertAllMention(failed[CHECK_COMPOSE_ENV], "FLOW__MQ__BROKER_HOST names no configuration key")
        self.assertIn("mq has: mqHost", failed[CHECK_COMPOSE_ENV][0])

    def test_mistyped_value_in_compose_is_reported(self):
        self.edit("docker-compose.yml", r'FLOW__MQ__MQ_PORT: "9092"', 'FLOW__MQ__MQ_PORT: "ninety"')
        failed = self.assertOnlyFailures({CHECK_COMPOSE_ENV})
        self.assertAllMention(failed[CHECK_COMPOSE_ENV], "FLOW__MQ__MQ_PORT (= mq.mqPort): expected a number")

    def test_key_renamed_in_the_code_is_reported_everywhere_it_is_used(self):
        # defaults.yaml is the binaries' truth: renaming a key there puts every artifact that
        # still uses the old name out of step.
        self.edit("pipeline-common/src/config/defaults.yaml", r"^  mqHost:", "  bootstrapHost:")
        failed = self.assertOnlyFailures(
            {CHECK_CONFIG, CHECK_COMPOSE_ENV, CHECK_COMPOSE_MOUNTS, CHECK_SHIPPED})
        self.assertEqual(sorted(failed[CHECK_CONFIG]), sorted([
            "values.yaml config.mq.mqHost: no such key in pipeline-common/src/config/defaults.yaml",
            "values.yaml config.mq.bootstrapHost: missing (pipeline-common/src/config/defaults.yaml has the key)",
        ]))
        self.assertAllMention(failed[CHECK_COMPOSE_ENV], "FLOW__MQ__MQ_HOST names no configuration key")
        self.assertAllMention(failed[CHECK_SHIPPED], "mq.mqHost: no such key")
        self.assertAllMention(failed[CHECK_COMPOSE_MOUNTS], "mq.mqHost: no such key")

    def test_key_added_in_the_code_is_reported_missing_from_the_chart(self):
        self.edit("pipeline-common/src/config/defaults.yaml", r"^  maxConnections: 10",
                  "  maxConnections: 10\n  acquireTimeoutMs: 30000")
        failed = self.assertOnlyFailures({CHECK_CONFIG})
        self.assertEqual(failed[CHECK_CONFIG], [
            "values.yaml config.database.acquireTimeoutMs: missing "
            "(pipeline-common/src/config/defaults.yaml has the key)"])

    def test_wrong_value_type_in_chart_config_is_reported(self):
        self.edit("charts/flow-stream/values.yaml", r"^(\s+)maxConnections: 10", r'\1maxConnections: "ten"')
        failed = self.assertOnlyFailures({CHECK_CONFIG, CHECK_SCHEMA})
        self.assertEqual(failed[CHECK_CONFIG], [
            "values.yaml config.database.maxConnections: is a string, "
            "pipeline-common/src/config/defaults.yaml has a number"])

    def test_unknown_variable_in_chart_template_is_reported(self):
        self.edit("charts/flow-stream/templates/_helpers.tpl", r"- name: FLOW__MQ__PASSWORD",
                  "- name: FLOW__MQ__PASSWD")
        failed = self.assertOnlyFailures({CHECK_CHART_ENV})
        self.assertIn("FLOW__MQ__PASSWD names no configuration key", failed[CHECK_CHART_ENV][0])
        # ...and the real variable is then no longer set from the Secret.
        self.assertIn("FLOW__MQ__PASSWORD is not set from a secretKeyRef", failed[CHECK_CHART_ENV][-1])


class ChartValues(RepoCopy):
    def test_missing_value_in_template_is_reported(self):
        self.edit("charts/flow-stream/templates/deployment-worker.yaml",
                  r"\.Values\.worker\.resources", ".Values.worker.resourceLimits")
        failed = self.assertOnlyFailures({CHECK_REFS})
        self.assertEqual(len(failed[CHECK_REFS]), 1)
        self.assertRegex(failed[CHECK_REFS][0],
                         r"^charts/flow-stream/templates/deployment-worker\.yaml:\d+: "
                         r"\.Values\.worker\.resourceLimits: no such value in values\.yaml$")

    def test_value_path_through_a_scalar_is_reported(self):
        self.edit("charts/flow-stream/templates/NOTES.txt", r"\.Values\.mgmt\.replicaCount",
                  ".Values.mgmt.replicaCount.max")
        failed = self.assertOnlyFailures({CHECK_REFS})
        self.assertIn(".Values.mgmt.replicaCount.max: .Values.mgmt.replicaCount is a number, not a mapping",
                      failed[CHECK_REFS][0])

    def test_schema_violation_is_reported(self):
        self.edit("charts/flow-stream/values.yaml", r"^(\s+)autoOffsetReset: earliest", r"\1autoOffsetReset: newest")
        failed = self.assertOnlyFailures({CHECK_SCHEMA})
        self.assertEqual(len(failed[CHECK_SCHEMA]), 1)
        self.assertIn("values.yaml config.kafka.autoOffsetReset: 'newest' is not one of", failed[CHECK_SCHEMA][0])

    def test_unclosed_template_action_is_reported(self):
        self.edit("charts/flow-stream/templates/hpa.yaml", r"^\{\{- end \}\}\s*\Z", "")
        failed = self.assertOnlyFailures({"chart: template actions are balanced"})
        self.assertIn("hpa.yaml: 1 action(s)", failed["chart: template actions are balanced"][0])


class Commands(RepoCopy):
    def test_nonexistent_subcommand_in_compose_is_reported(self):
        self.edit("docker-compose.yml", r'command: \["serve"\]', 'command: ["server"]')
        failed = self.assertOnlyFailures({"compose: service pipeline-mgmt runs a real command"})
        self.assertEqual(failed["compose: service pipeline-mgmt runs a real command"], [
            "service pipeline-mgmt: ['pipeline-mgmt', 'server']: `pipeline-mgmt` has no subcommand "
            "'server' (it has: migrate, serve, token)"])

    def test_subcommand_of_the_other_binary_in_compose_is_reported(self):
        self.edit("docker-compose.yml", r'command: \["run"\]', 'command: ["serve"]')
        failed = self.assertOnlyFailures({"compose: service pipeline-worker runs a real command"})
        self.assertIn("`pipeline-worker` has no subcommand 'serve' (it has: run)",
                      failed["compose: service pipeline-worker runs a real command"][0])

    def test_unknown_binary_in_compose_is_reported(self):
        self.edit("docker-compose.yml", r'entrypoint: \["pipeline-worker"\]', 'entrypoint: ["pipeline-wrker"]')
        failed = self.assertOnlyFailures({"compose: service pipeline-worker runs a real command"})
        self.assertIn("'pipeline-wrker' is not a bin target of the workspace",
                      failed["compose: service pipeline-worker runs a real command"][0])

    def test_bad_loadgen_flag_in_compose_is_reported(self):
        self.edit("docker-compose.yml", r'"--target", "kafka"', '"--target", "kafak"')
        failed = self.assertOnlyFailures({"compose: service loadgen runs a real command"})
        self.assertIn("option --target of `flow-loadgen` takes one of kafka, http, not 'kafak'",
                      failed["compose: service loadgen runs a real command"][0])

    def test_subcommand_removed_from_the_code_is_reported(self):
        # The worker's CLI loses `run` (renamed to `start`): compose and the chart still say `run`.
        self.edit("pipeline-worker/src/cli.rs", r"^    Run,", "    Start,")
        failed = self.assertOnlyFailures({"compose: service pipeline-worker runs a real command",
                                          CHECK_CHART_ARGS})
        self.assertIn("`pipeline-worker` has no subcommand 'run' (it has: start)", failed[CHECK_CHART_ARGS][0])

    def test_wrong_container_args_in_chart_are_reported(self):
        self.edit("charts/flow-stream/templates/deployment-worker.yaml", r'args: \["run"\]', 'args: ["serve"]')
        failed = self.assertOnlyFailures({CHECK_CHART_ARGS})
        self.assertRegex(failed[CHECK_CHART_ARGS][0],
                         r"deployment-worker\.yaml:\d+: container pipeline-worker: \['pipeline-worker', 'serve'\]: "
                         r"`pipeline-worker` has no subcommand 'serve'")

    def test_wrong_dockerfile_cmd_is_reported(self):
        self.edit("Dockerfile", r'^CMD \["serve"\]', 'CMD ["run"]')
        failed = self.assertOnlyFailures({CHECK_DOCKER_RUN})
        self.assertIn("`pipeline-mgmt` has no subcommand 'run'", failed[CHECK_DOCKER_RUN][0])


class Dockerfile(RepoCopy):
    def test_missing_copy_source_is_reported(self):
        self.edit("Dockerfile", r"^COPY config/pipeline-config\.yaml", "COPY config/pipeline.yaml")
        failed = self.assertOnlyFailures({CHECK_DOCKER_COPY})
        self.assertEqual(len(failed[CHECK_DOCKER_COPY]), 1)
        self.assertRegex(failed[CHECK_DOCKER_COPY][0],
                         r"^Dockerfile:\d+: COPY source 'config/pipeline\.yaml' does not exist$")

    def test_flow_config_outside_the_image_is_reported(self):
        self.edit("Dockerfile", r"^ENV FLOW_CONFIG=/etc/flow-stream/pipeline-config\.yaml",
                  "ENV FLOW_CONFIG=/etc/flow/pipeline-config.yaml")
        failed = self.assertOnlyFailures({CHECK_DOCKER_RUN})
        self.assertEqual(failed[CHECK_DOCKER_RUN], [
            "Dockerfile: ENV FLOW_CONFIG=/etc/flow/pipeline-config.yaml is not a file the image copies"])

    def test_copy_source_excluded_by_dockerignore_is_reported(self):
        self.write(".dockerignore", (self.root / ".dockerignore").read_text() + "config/\n")
        failed = self.assertOnlyFailures({CHECK_DOCKER_COPY})
        self.assertIn("'config/pipeline-config.yaml' is excluded by .dockerignore", failed[CHECK_DOCKER_COPY][0])

    def test_binary_that_is_no_bin_target_is_reported(self):
        self.edit("Dockerfile", r"/out/pipeline-worker /out/flow-loadgen /usr/local/bin/",
                  "/out/pipeline-worker /out/flow-loadgen /out/pipeline-admin /usr/local/bin/")
        failed = self.assertOnlyFailures({CHECK_DOCKER_BINS})
        self.assertIn("'pipeline-admin' is not a bin target of the workspace", failed[CHECK_DOCKER_BINS][0])

    def test_root_user_is_reported(self):
        self.edit("Dockerfile", r"^USER 10001:10001", "USER root")
        failed = self.assertOnlyFailures({CHECK_DOCKER_RUN})
        self.assertEqual(failed[CHECK_DOCKER_RUN], ["Dockerfile: USER root runs as root"])


class Pipeline(RepoCopy):
    def test_missing_stage_and_variable_are_reported(self):
        self.edit("azure-pipelines.yaml", r"stage: CodeAnalysis", "stage: Analysis")
        self.edit("azure-pipelines.yaml", r"name: SDP_VERSION", "name: SDP_RELEASE", count=0)
        failed = self.assertOnlyFailures({CHECK_AZURE})
        self.assertIn("azure-pipelines.yaml: no variable SDP_VERSION", failed[CHECK_AZURE])
        self.assertTrue(any("no stage 'CodeAnalysis'" in e for e in failed[CHECK_AZURE]))

    def test_broken_yaml_is_reported_not_raised(self):
        self.write("docker-compose.yml", "services:\n  a: [unclosed\n")
        failed = self.failures()
        self.assertIn("compose: docker-compose.yml parses", failed)
        self.assertIn("yaml: every plain YAML/JSON file of the pipeline parses", failed)


class Units(unittest.TestCase):
    DEFAULTS = {"server": {"httpPort": 1, "flushMiB": 5}, "mq": {"mqHost": "x", "tls": False},
                "opensearch": {"urls": ["u"]}, "auth": {"tokens": []}}

    def test_env_names_resolve_like_the_binaries(self):
        # The examples of pipeline-common/src/config/mod.rs and README.md.
        cases = {
            "FLOW__SERVER__HTTP_PORT": "server.httpPort",
            "FLOW__SERVER__HTTPPORT": "server.httpPort",
            "FLOW__server__http-port": "server.httpPort",
            "FLOW__SERVER__FLUSH_MIB": "server.flushMiB",
            "FLOW__MQ__MQ_HOST": "mq.mqHost",
            "FLOW__OPENSEARCH__URLS": "opensearch.urls",
            "FLOW__AUTH__TOKENS": "auth.tokens",
        }
        for var, path in cases.items():
            self.assertEqual(validate.resolve_env(var, self.DEFAULTS)[0], path, var)
        for var in ("FLOW__MQ__HOST", "FLOW__SERVER", "FLOW__SERVER__HTTP_PORT__X", "FLOW_SERVER__HTTP_PORT",
                    "FLOW__AUTH__TOKENS__0"):
            if var == "FLOW__SERVER":
                self.assertEqual(validate.resolve_env(var, self.DEFAULTS)[0], "server")
            else:
                self.assertIsNone(validate.resolve_env(var, self.DEFAULTS), var)

    def test_env_values_are_typed_like_the_binaries(self):
        ok = [("FLOW__MQ__TLS", "yes"), ("FLOW__SERVER__HTTP_PORT", "14000"),
              ("FLOW__OPENSEARCH__URLS", "http://a:9200,http://b:9200"),
              ("FLOW__AUTH__TOKENS", '[{"name":"ops","role":"admin","sha256":"ab"}]'),
              ("FLOW__SERVER__HTTP_PORT", "{{ .Values.port }}")]
        for var, raw in ok:
            self.assertIsNone(validate.env_var_error(var, raw, self.DEFAULTS), (var, raw))
        bad = [("FLOW__MQ__TLS", "maybe"), ("FLOW__SERVER__HTTP_PORT", "port"), ("FLOW__AUTH__TOKENS", "[{")]
        for var, raw in bad:
            self.assertIsNotNone(validate.env_var_error(var, raw, self.DEFAULTS), (var, raw))

    def test_clap_model_from_source(self):
        src = '''
            /// Doc with a "quote" and a { brace.
            #[derive(Parser)]
            #[command(name = "demo", version)]
            struct Cli {
                #[arg(long, global = true, env = "X")] config: Option<PathBuf>,
                #[command(subcommand)] command: Option<Cmd>,
            }
            #[derive(Subcommand)]
            enum Cmd {
                /// Serve.
                Serve { #[arg(long, short)] port: u16, #[arg(long)] dry_run: bool },
                #[command(name = "db")]
                Database(DbArgs),
                ImportAll { files: Vec<String> },
            }
            #[derive(Args)]
            struct DbArgs { #[command(subcommand)] action: DbAction }
            #[derive(Subcommand)]
            enum DbAction { Migrate, Reset { #[arg(long, value_enum)] mode: Mode } }
            #[derive(ValueEnum, Clone)]
            enum Mode { Soft, HardReset }
        '''
        root = rustcli.CliModel(rustcli.parse_items(src)).root_for("demo")
        self.assertEqual(sorted(root.subcommands), ["db", "import-all", "serve"])
        good = [["serve", "--port", "1"], ["--config", "f", "serve", "-p", "2", "--dry-run"],
                ["serve", "--config=f"], ["db", "migrate"], ["db", "reset", "--mode", "hard-reset"],
                ["import-all", "a", "b"], ["--version"], ["--help"]]
        for argv in good:
            self.assertIsNone(rustcli.check_argv(root, argv), argv)
        bad = {
            ("serve", "--dry-run", "x"): "takes no argument 'x'",
            ("db",): "needs a subcommand (one of: migrate, reset)",
            ("db", "reset", "--mode", "firm"): "takes one of soft, hard-reset, not 'firm'",
            ("serve", "--port"): "needs a value",
            ("serve", "--verbose"): "has no option --verbose",
            ("database", "migrate"): "has no subcommand 'database'",
            (): "needs a subcommand",
        }
        for argv, message in bad.items():
            self.assertIn(message, rustcli.check_argv(root, list(argv)) or "", argv)

    def test_dockerignore_matching(self):
        ignore = validate.DockerIgnore("target/\n**/*.bak\n!keep.bak\nsecret*\n")
        self.assertTrue(ignore.excluded("target/release/x"))
        self.assertTrue(ignore.excluded("a/b/c.bak"))
        self.assertFalse(ignore.excluded("keep.bak"))
        self.assertTrue(ignore.excluded("secret.txt"))
        self.assertFalse(ignore.excluded("config/pipeline-config.yaml"))

    def test_dockerfile_heredoc_and_continuations(self):
        text = ('FROM a AS b\nRUN x \\\n  # comment\n  && y\nCOPY <<EOF /usr/local/bin/t\n'
                'echo FROM inside\nEOF\nCMD ["z"]\n')
        ins = validate.parse_dockerfile(text)
        self.assertEqual([i.keyword for i in ins], ["FROM", "RUN", "COPY", "CMD"])
        self.assertEqual(ins[1].args, "x && y")
        self.assertEqual(ins[2].heredocs, [("EOF", "echo FROM inside")])


HELM = os.environ.get("FLOW_HELM") or None
HELM_TEMPLATES = {helmcheck.CHECK_DEFAULT, helmcheck.CHECK_HPA, helmcheck.CHECK_KEDA}
HELM_FEATURES = {helmcheck.CHECK_HPA, helmcheck.CHECK_KEDA}


@unittest.skipUnless(HELM and os.access(HELM, os.X_OK),
                     "no helm: set FLOW_HELM (scripts/validate-artifacts does, from scripts/install-helm)")
class Helm(RepoCopy):
    """Breaks the chart in ways that only running it shows: the static checks stay green."""

    helm = HELM
    CHART = "charts/flow-stream"

    def test_the_checkout_passes_with_helm(self):
        self.assertOnlyFailures(set())

    def test_template_syntax_error_fails_lint_and_every_render(self):
        # An unknown function is a parse error of the template: helm refuses the whole chart.
        self.edit(f"{self.CHART}/templates/configmap.yaml", r"^kind: ConfigMap$",
                  "kind: ConfigMap\n# {{ .Values.image.tag | nosuchfunc }}")
        # The alert checks render the chart too.
        failed = self.assertOnlyFailures({helmcheck.CHECK_LINT, helmcheck.CHECK_EXCLUSIVE} | HELM_TEMPLATES
                                         | set(alertcheck.ALL_CHECKS))
        for name in HELM_TEMPLATES | {helmcheck.CHECK_LINT} | set(alertcheck.ALL_CHECKS):
            self.assertTrue(any("nosuchfunc" in e for e in failed[name]), f"{name}: {failed[name]}")
            self.assertTrue(any("configmap.yaml" in e for e in failed[name]), f"{name}: {failed[name]}")
        # Three lint runs, each reporting the break.
        for label in ("default values", "all features, HPA", "all features, KEDA"):
            self.assertTrue(any(e.startswith(f"{label}: ") for e in failed[helmcheck.CHECK_LINT]), label)
        self.assertIn("not for the scalers' exclusion", failed[helmcheck.CHECK_EXCLUSIVE][0])

    def test_broken_yaml_in_an_optional_template_fails_only_the_feature_renders(self):
        # servicemonitor.yaml renders only with serviceMonitor.enabled: the default render is fine.
        self.edit(f"{self.CHART}/templates/servicemonitor.yaml", r"^  endpoints:$", "   endpoints:")
        failed = self.assertOnlyFailures({helmcheck.CHECK_LINT} | HELM_FEATURES)
        for name in HELM_FEATURES:
            self.assertTrue(any("servicemonitor.yaml" in e for e in failed[name]), f"{name}: {failed[name]}")
        self.assertFalse(any(e.startswith("default values: ") for e in failed[helmcheck.CHECK_LINT]))

    def test_feature_that_renders_nothing_is_reported(self):
        # The HPA template's condition can never hold: autoscaling.enabled silently does nothing.
        self.edit(f"{self.CHART}/templates/hpa.yaml", r"^\{\{- if \.Values\.autoscaling\.enabled \}\}",
                  "{{- if and .Values.autoscaling.enabled .Values.keda.enabled }}")
        failed = self.assertOnlyFailures({helmcheck.CHECK_HPA})
        self.assertIn("no HorizontalPodAutoscaler, though autoscaling.enabled is on", failed[helmcheck.CHECK_HPA])

    def test_object_without_a_name_is_reported(self):
        # helm renders it happily; the API server would refuse it.
        self.edit(f"{self.CHART}/templates/servicemonitor.yaml",
                  r'^  name: \{\{ include "flow-stream.fullname" \. \}\}\n', "")
        failed = self.assertOnlyFailures({helmcheck.CHECK_LINT} | HELM_FEATURES)
        for name in HELM_FEATURES:
            self.assertTrue(any("ServiceMonitor" in e and "no metadata.name" in e for e in failed[name]),
                            f"{name}: {failed[name]}")

    def test_values_the_schema_rejects_are_reported(self):
        # A schema that forbids what the all-features values set (two KEDA pipelines) is a chart
        # bug either way: the schema or the feature is wrong.
        self.edit(f"{self.CHART}/values.schema.json", r'"pattern": "\^\[a-z0-9\]\[a-z0-9\._-\]\*\$"',
                  '"pattern": "^[a-z0-9]+$"')
        failed = self.assertOnlyFailures({helmcheck.CHECK_LINT, helmcheck.CHECK_KEDA, helmcheck.CHECK_HPA,
                                          helmcheck.CHECK_EXCLUSIVE})
        for name in HELM_FEATURES:
            self.assertTrue(any("/keda/pipelines/1" in e and "does not match pattern" in e for e in failed[name]),
                            f"{name}: {failed[name]}")

    def test_lost_mutual_exclusion_is_reported(self):
        self.edit(f"{self.CHART}/templates/_helpers.tpl",
                  r"^\{\{- if and \.Values\.autoscaling\.enabled \.Values\.keda\.enabled \}\}",
                  "{{- if and .Values.autoscaling.enabled .Values.keda.enabled false }}")
        failed = self.assertOnlyFailures({helmcheck.CHECK_EXCLUSIVE})
        self.assertIn("rendered autoscaling.enabled and keda.enabled together", failed[helmcheck.CHECK_EXCLUSIVE][0])


PROMTOOL = alertcheck._promtool()


@unittest.skipUnless(HELM and os.access(HELM, os.X_OK) and PROMTOOL,
                     "no helm or no promtool: scripts/install-tools and scripts/install-helm provide them")
class Alerts(RepoCopy):
    """Breaks the alerting rules, their thresholds or the dashboard: promtool or the metric check
    must say so, and nothing else may fail."""

    helm = HELM
    RULES = "charts/flow-stream/files/alerts.yaml"

    def test_a_threshold_that_silences_an_alert_is_reported(self):
        self.edit("charts/flow-stream/values.yaml", r"^    maxAgeSeconds: 60$", "    maxAgeSeconds: 600")
        failed = self.assertOnlyFailures({alertcheck.CHECK_RULES})
        text = "\n".join(failed[alertcheck.CHECK_RULES])
        self.assertIn("promtool test rules failed", text)
        self.assertIn("FlowStreamWorkerHeartbeatMissing", text)

    def test_an_alert_that_fires_below_its_threshold_is_reported(self):
        # Dead-lettering anything at all fires: the 0.5% pipeline of the test must not.
        self.edit(self.RULES, r"^          > \{\{ \$r\.deadLetter\.ratio \}\}$", "          > 0")
        failed = self.assertOnlyFailures({alertcheck.CHECK_RULES})
        text = "\n".join(failed[alertcheck.CHECK_RULES])
        self.assertIn("FlowStreamDeadLetterRateHigh", text)
        self.assertIn("mostly-ok", text)

    def test_a_rule_that_does_not_parse_is_reported(self):
        self.edit(self.RULES, r"expr: max by \(pipeline\) \(", "expr: max by (pipeline) ((")
        failed = self.assertOnlyFailures({alertcheck.CHECK_RULES})
        self.assertEqual("promtool check rules failed:", failed[alertcheck.CHECK_RULES][0])
        self.assertTrue(any("FlowStreamPipelineFailed" in e or "parse error" in e
                            for e in failed[alertcheck.CHECK_RULES]), failed)

    def test_a_metric_the_code_does_not_export_is_reported(self):
        self.edit("charts/flow-stream/files/dashboard.json", r"flow_worker_bulk_bytes_total", "flow_worker_bulk_octets_total")
        failed = self.assertOnlyFailures({alertcheck.CHECK_METRICS})
        self.assertEqual(failed[alertcheck.CHECK_METRICS],
                         ["dashboard panel 'Bulk bytes per second' queries flow_worker_bulk_octets_total, "
                          "which the code does not export"])

    def test_a_metric_renamed_in_the_code_is_reported(self):
        self.edit("pipeline-mgmt/src/fleet_metrics.rs", r'"flow_fleet_worker_heartbeat_age_seconds"',
                  '"flow_fleet_worker_heartbeat_seconds"')
        failed = self.assertOnlyFailures({alertcheck.CHECK_METRICS})
        self.assertTrue(any(e.startswith("alert FlowStreamWorkerHeartbeatMissing queries "
                                         "flow_fleet_worker_heartbeat_age_seconds")
                            for e in failed[alertcheck.CHECK_METRICS]), failed)


class AlertUnits(unittest.TestCase):
    def test_metric_names_come_from_the_metrics_modules(self):
        names = alertcheck.metric_names(REPO)
        for n in ("flow_worker_events_consumed_total", "flow_worker_bulk_duration_seconds_bucket",
                  "flow_fleet_pipeline_tasks", "pipelines", "http_requests_total", "process_resident_memory_bytes"):
            self.assertIn(n, names)

    def test_queried_metrics_are_the_selected_names(self):
        expr = ('sum by (pipeline) (rate(a_total{namespace="x"}[5m])) / on (pipeline) '
                'histogram_quantile(0.9, sum by (le) (rate(b_bucket{x="y"}[1m])))')
        self.assertEqual(alertcheck.queried_metrics(expr), {"a_total", "b_bucket"})


class Manifests(unittest.TestCase):
    """helmcheck.check_manifests on hand-written renders: no helm needed."""

    FLAGS = list(helmcheck.FEATURE_KINDS)
    WORKER = ("apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: r-worker\n  labels:\n"
              "    app.kubernetes.io/component: worker\nspec:\n  replicas: 3\n")
    BASE = ("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: r}\ndata: {a: b}\n---\n"
            "apiVersion: v1\nkind: Service\nmetadata: {name: r-mgmt}\nspec: {}\n---\n" + WORKER)

    def errors(self, text: str, on=()) -> list[str]:
        return helmcheck.check_manifests(text, set(on), self.FLAGS)[0]

    def test_a_valid_render_passes(self):
        self.assertEqual(self.errors(self.BASE + "---\n# only a comment\n"), [])

    def test_objects_must_be_named_typed_and_unique(self):
        text = self.BASE + ("---\nkind: Secret\nmetadata: {name: s}\ndata: {}\n"
                            "---\napiVersion: v1\nkind: Secret\nmetadata: {name: Bad_Name}\ndata: {}\n"
                            "---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: r}\ndata: {}\n"
                            "---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: empty}\n"
                            "---\n- a list\n")
        errors = self.errors(text)
        self.assertEqual(len(errors), 5, errors)
        self.assertTrue(any("no apiVersion" in e for e in errors))
        self.assertTrue(any("'Bad_Name' is not a valid Kubernetes name" in e for e in errors))
        self.assertTrue(any("ConfigMap r" in e and "rendered twice" in e for e in errors))
        self.assertTrue(any("no content besides" in e for e in errors))
        self.assertTrue(any("is a list, not a Kubernetes object" in e for e in errors))

    def test_empty_and_unparsable_renders_fail(self):
        self.assertEqual(self.errors("---\n# nothing\n"), ["rendered no Kubernetes object at all"])
        self.assertIn("not YAML", self.errors("a: [unclosed\n")[0])

    def test_feature_objects_follow_the_flags(self):
        hpa = ("---\napiVersion: autoscaling/v2\nkind: HorizontalPodAutoscaler\nmetadata: {name: r-worker}\n"
               "spec: {scaleTargetRef: {name: r-other}}\n")
        errors = self.errors(self.BASE + hpa, on={"autoscaling.enabled"})
        self.assertIn("the worker Deployment sets spec.replicas, though a scaler owns them", errors)
        self.assertIn("HorizontalPodAutoscaler r-worker scales 'r-other', not the worker Deployment 'r-worker'",
                      errors)
        self.assertIn("1 HorizontalPodAutoscaler(s), though no flag that creates one is on", self.errors(self.BASE + hpa))
        self.assertIn("no ServiceMonitor, though serviceMonitor.enabled is on",
                      self.errors(self.BASE, on={"serviceMonitor.enabled"}))

    def test_every_enabled_flag_is_switched_on_in_some_render(self):
        values = validate.load_yaml(REPO / "charts/flow-stream/values.yaml")
        flags = helmcheck.feature_flags(values)
        self.assertIn("keda.enabled", flags)
        sets = helmcheck.value_sets(values)
        on = set().union(*(s[2] for s in sets.values()))
        self.assertEqual(set(flags), on)
        self.assertNotIn("keda.enabled", sets[helmcheck.CHECK_HPA][2])
        self.assertNotIn("autoscaling.enabled", sets[helmcheck.CHECK_KEDA][2])


if __name__ == "__main__":
    unittest.main(verbosity=2)
