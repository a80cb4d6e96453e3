import java.nio.file.Path;
import java.nio.file.Paths;
import java.util.Arrays;
import java.util.Collection;
import java.util.Collections;
import java.util.concurrent.CountDownLatch;

import org.opensearch.analysis.common.CommonAnalysisPlugin;
import org.opensearch.common.settings.Settings;
import org.opensearch.env.Environment;
import org.opensearch.node.InternalSettingsPreparer;
import org.opensearch.node.Node;
import org.opensearch.plugins.Plugin;
import org.opensearch.security.OpenSearchSecurityPlugin;
import org.opensearch.transport.Netty4Plugin;

/**
 * FlowOpenSearch (scripts/servers/opensearch) with OpenSearch's security plugin: the same single
 * node, plus org.opensearch.security.OpenSearchSecurityPlugin handed to the node on the classpath
 * beside the HTTP transport and the common analysis plugin. The plugin's jars (from its Maven
 * Central zip) are on the classpath; its TLS and user configuration are node settings and files
 * under HOME/config, written by the run script beside this file.
 *
 * Usage: java -cp 'libs/*:plugin/*:launcher' FlowSecureOpenSearch HOME HTTP_PORT TRANSPORT_PORT [key=value ...]
 * HOME holds data/ and logs/; extra key=value pairs become node settings (e.g.
 * thread_pool.write.queue_size=2 for a node that rejects bulk items with 429).
 * Exits when the node fails to start; SIGTERM closes the node.
 */
public final class FlowSecureOpenSearch {
    /** Opens Node's protected constructor, which takes classpath plugins. */
    static final class ClasspathPluginsNode extends Node {
        ClasspathPluginsNode(Environment environment, Collection<Class<? extends Plugin>> plugins) {
            super(environment, plugins, true);
        }
    }

    public static void main(String[] args) throws Exception {
        if (args.length < 3) {
            System.err.println("usage: FlowSecureOpenSearch HOME HTTP_PORT TRANSPORT_PORT [key=value ...]");
            System.exit(2);
        }
        Path home = Paths.get(args[0]).toAbsolutePath();
        Settings.Builder settings = Settings.builder()
            .put("path.home", home.toString())
            .put("path.data", home.resolve("data").toString())
            .put("path.logs", home.resolve("logs").toString())
            .put("cluster.name", "flow-stream-secure-test")
            .put("node.name", "flow-stream-node")
            .put("discovery.type", "single-node")
            .put("network.host", "127.0.0.1")
            .put("http.port", args[1])
            .put("transport.port", args[2])
            .put("cluster.routing.allocation.disk.threshold_enabled", false)
            // Every test makes its own indices, and a single node cannot place their replicas:
            // the default limit of 1000 shards per node (replicas counted) is reached within a
            // day of test runs on one stack.
            .put("cluster.max_shards_per_node", 100000)
            .put("action.auto_create_index", true);
        for (String kv : Arrays.copyOfRange(args, 3, args.length)) {
            int eq = kv.indexOf('=');
            if (eq <= 0) {
                System.err.println("not a key=value setting: " + kv);
                System.exit(2);
            }
            settings.put(kv.substring(0, eq), kv.substring(eq + 1));
        }
        Environment environment = InternalSettingsPreparer.prepareEnvironment(
            settings.build(), Collections.emptyMap(), null, () -> "flow-stream-node");
        Collection<Class<? extends Plugin>> plugins =
            Arrays.asList(Netty4Plugin.class, CommonAnalysisPlugin.class, OpenSearchSecurityPlugin.class);
        Node node = new ClasspathPluginsNode(environment, plugins);
        CountDownLatch closed = new CountDownLatch(1);
        Runtime.getRuntime().addShutdownHook(new Thread(() -> {
            try {
                node.close();
            } catch (Exception e) {
                e.printStackTrace();
            } finally {
                closed.countDown();
            }
        }, "flow-opensearch-shutdown"));
        try {
            node.start();
        } catch (Throwable t) {
            t.printStackTrace();
            System.exit(1);
        }
        System.out.println("flow-opensearch (secured) started: https://127.0.0.1:" + args[1]);
        closed.await();
    }
}
