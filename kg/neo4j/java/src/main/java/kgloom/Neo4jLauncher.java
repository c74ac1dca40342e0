package kgloom;

import java.io.IOException;
import java.io.InputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.atomic.AtomicBoolean;

import java.time.Duration;

import org.neo4j.configuration.GraphDatabaseInternalSettings;
import org.neo4j.configuration.GraphDatabaseSettings;
import org.neo4j.configuration.connectors.BoltConnectorInternalSettings;
import org.neo4j.configuration.connectors.BoltConnector;
import org.neo4j.configuration.connectors.HttpConnector;
import org.neo4j.configuration.connectors.HttpsConnector;
import org.neo4j.configuration.helpers.SocketAddress;
import org.neo4j.dbms.api.DatabaseManagementService;
import org.neo4j.dbms.api.DatabaseManagementServiceBuilder;

/**
 * Runs a real Neo4j Community server (the embedded DBMS with the Bolt connector and, optionally, the
 * HTTP connector that also serves Neo4j Browser at /browser/) until SIGTERM / SIGINT.
 *
 * <pre>
 * java --add-opens=java.base/java.nio=ALL-UNNAMED ... -cp 'classes:lib/*' kgloom.Neo4jLauncher \
 *     --home DIR --bolt-port 7687 [--http-port 7474] [--host 127.0.0.1] [--pagecache 256m]
 *     [--password PW | --no-auth] [--conf key=value]... [--config neo4j.conf] [--watch-stdin]
 *     [--delete-home-on-exit]
 * </pre>
 *
 * The password may also come from the environment: KG_NEO4J_PASSWORD, then NEO4J_PASSWORD (preferred:
 * it keeps it out of the process list). With auth on, the password of user {@code neo4j} is set through
 * the system database at every start (ALTER USER ... CHANGE NOT REQUIRED), so the one given always wins.
 *
 * Prints "READY bolt://HOST:PORT" once the server accepts Bolt, and "STOPPED" after a clean shutdown.
 * Exit codes: 0 clean stop, 2 bad arguments, 1 startup failure.
 */
public final class Neo4jLauncher {

    private Neo4jLauncher() {}

    private static final PrintStream OUT = System.out;

    static final class Options {
        Path home;
        String host = "127.0.0.1";
        int boltPort = -1;
        int httpPort = -1;
        long pagecacheBytes = 256L * 1024 * 1024;
        String password;
        boolean auth = true;
        boolean watchStdin;
        boolean deleteHome;
        Path configFile;
        final List<String> conf = new ArrayList<>();
    }

    public static void main(String[] args) {
        Options o;
        try {
            o = parse(args);
        } catch (IllegalArgumentException e) {
            System.err.println("ERROR " + e.getMessage());
            System.err.println(usage());
            System.exit(2);
            return;
        }
        try {
            run(o);
        } catch (Throwable t) {
            Throwable root = t;
            while (root.getCause() != null && root.getCause() != root) {
                root = root.getCause();
            }
            System.err.println("ERROR Neo4j failed to start: " + root + (root == t ? "" : " (in: " + t + ")"));
            t.printStackTrace();
            System.err.flush();
            // halt: a half-started DBMS may hold non-daemon threads
            Runtime.getRuntime().halt(1);
        }
    }

    private static void run(Options o) throws Exception {
        Files.createDirectories(o.home);
        DatabaseManagementServiceBuilder b = new DatabaseManagementServiceBuilder(o.home);
        // Test/dev friendly defaults first, so that --config / --conf files below can still change them.
        // No 256 MiB pre-allocated transaction log per database, no usage report, and a quick stop:
        // the Bolt server otherwise waits 2 x 5 s for idle connections and thread pools on shutdown.
        b.setConfig(GraphDatabaseSettings.preallocate_logical_logs, false);
        b.setConfig(GraphDatabaseSettings.udc_enabled, false);
        b.setConfig(BoltConnectorInternalSettings.connection_shutdown_wait_time, Duration.ofSeconds(1));
        b.setConfig(BoltConnectorInternalSettings.thread_pool_shutdown_wait_time, Duration.ofSeconds(1));
        b.setConfig(GraphDatabaseInternalSettings.netty_server_shutdown_quiet_period, 0);
        if (o.configFile != null) {
            b.loadPropertiesFromFile(o.configFile);
        }
        if (!o.conf.isEmpty()) {
            Path extra = o.home.resolve("kgloom-extra.conf");
            Files.writeString(extra, String.join("\n", o.conf) + "\n", StandardCharsets.UTF_8);
            b.loadPropertiesFromFile(extra);
        }
        // What the caller asked for on the command line always wins.
        b.setConfig(BoltConnector.enabled, true);
        b.setConfig(BoltConnector.listen_address, new SocketAddress(o.host, o.boltPort));
        // advertised = listen, so neo4j:// routing tables and Browser's discovery point at the real port
        b.setConfig(BoltConnector.advertised_address, new SocketAddress(o.host, o.boltPort));
        b.setConfig(HttpsConnector.enabled, false);
        b.setConfig(HttpConnector.enabled, o.httpPort > 0);
        if (o.httpPort > 0) {
            b.setConfig(HttpConnector.listen_address, new SocketAddress(o.host, o.httpPort));
            b.setConfig(HttpConnector.advertised_address, new SocketAddress(o.host, o.httpPort));
        }
        b.setConfig(GraphDatabaseSettings.pagecache_memory, o.pagecacheBytes);
        b.setConfig(GraphDatabaseSettings.auth_enabled, o.auth);

        OUT.println("STARTING neo4j home=" + o.home.toAbsolutePath() + " bolt=" + o.host + ":" + o.boltPort
                + (o.httpPort > 0 ? " http=" + o.host + ":" + o.httpPort : "") + " auth=" + o.auth);
        OUT.flush();

        final DatabaseManagementService dbms = b.build();
        final CountDownLatch stopped = new CountDownLatch(1);
        final AtomicBoolean shuttingDown = new AtomicBoolean();
        Runnable shutdown = () -> {
            if (!shuttingDown.compareAndSet(false, true)) {
                return;
            }
            OUT.println("STOPPING");
            OUT.flush();
            try {
                dbms.shutdown();
            } catch (Throwable t) {
                System.err.println("ERROR during shutdown: " + t);
            }
            if (o.deleteHome) {
                deleteTree(o.home);
            }
            OUT.println("STOPPED");
            OUT.flush();
            stopped.countDown();
        };
        Runtime.getRuntime().addShutdownHook(new Thread(shutdown, "kgloom-neo4j-shutdown"));

        if (o.auth) {
            setPassword(dbms, o.password);
        }
        // touch the default database so the first client does not wait for it
        try {
            dbms.database(GraphDatabaseSettings.DEFAULT_DATABASE_NAME).executeTransactionally("RETURN 1");
        } catch (RuntimeException e) {
            // another default database was configured; clients will find it
        }

        if (o.watchStdin) {
            Thread watcher = new Thread(() -> {
                try {
                    InputStream in = System.in;
                    byte[] buf = new byte[256];
                    while (in.read(buf) >= 0) {
                        // discard; only EOF matters
                    }
                } catch (IOException ignored) {
                    // parent gone
                }
                OUT.println("STDIN closed: parent process is gone, shutting down");
                OUT.flush();
                System.exit(0); // runs the shutdown hook
            }, "kgloom-stdin-watch");
            watcher.setDaemon(true);
            watcher.start();
        }

        if (o.httpPort > 0) {
            OUT.println("BROWSER http://" + o.host + ":" + o.httpPort + "/browser/");
        }
        OUT.println("READY bolt://" + o.host + ":" + o.boltPort);
        OUT.flush();
        stopped.await();
    }

    /** Best effort: a temporary home must not outlive a parent that was killed. */
    private static void deleteTree(Path root) {
        try (java.util.stream.Stream<Path> paths = Files.walk(root)) {
            paths.sorted(java.util.Comparator.reverseOrder()).forEach(p -> {
                try {
                    Files.deleteIfExists(p);
                } catch (IOException ignored) {
                    // keep going
                }
            });
        } catch (IOException ignored) {
            // nothing to delete
        }
    }

    private static void setPassword(DatabaseManagementService dbms, String password) {
        try {
            dbms.database(GraphDatabaseSettings.SYSTEM_DATABASE_NAME).executeTransactionally(
                    "ALTER USER neo4j SET PASSWORD $pw CHANGE NOT REQUIRED", Map.of("pw", password));
        } catch (RuntimeException e) {
            String msg = String.valueOf(e.getMessage()).toLowerCase(Locale.ROOT);
            if (!msg.contains("cannot be the same")) { // already set to this password on an earlier start
                throw e;
            }
        }
    }

    static Options parse(String[] args) {
        Options o = new Options();
        for (int i = 0; i < args.length; i++) {
            String a = args[i];
            switch (a) {
                case "--home": o.home = Path.of(value(args, ++i, a)); break;
                case "--host": o.host = value(args, ++i, a); break;
                case "--bolt-port": o.boltPort = port(value(args, ++i, a), a); break;
                case "--http-port": o.httpPort = port(value(args, ++i, a), a); break;
                case "--pagecache": o.pagecacheBytes = bytes(value(args, ++i, a)); break;
                case "--password": o.password = value(args, ++i, a); break;
                case "--no-auth": o.auth = false; break;
                case "--conf": o.conf.add(value(args, ++i, a)); break;
                case "--config": o.configFile = Path.of(value(args, ++i, a)); break;
                case "--watch-stdin": o.watchStdin = true; break;
                case "--delete-home-on-exit": o.deleteHome = true; break;
                case "-h": case "--help": OUT.println(usage()); System.exit(0); break;
                default: throw new IllegalArgumentException("unknown argument: " + a);
            }
        }
        if (o.home == null) {
            throw new IllegalArgumentException("--home DIR is required");
        }
        if (o.boltPort <= 0) {
            throw new IllegalArgumentException("--bolt-port N is required");
        }
        if (o.auth) {
            if (o.password == null) {
                o.password = firstNonEmpty(System.getenv("KG_NEO4J_PASSWORD"), System.getenv("NEO4J_PASSWORD"));
            }
            if (o.password == null) {
                throw new IllegalArgumentException(
                        "a password is required with auth on: --password, $KG_NEO4J_PASSWORD or $NEO4J_PASSWORD"
                                + " (or --no-auth)");
            }
            if (o.password.length() < 8) {
                throw new IllegalArgumentException("the password must have at least 8 characters (Neo4j 5 rule)");
            }
        }
        return o;
    }

    private static String firstNonEmpty(String... xs) {
        for (String x : xs) {
            if (x != null && !x.isEmpty()) {
                return x;
            }
        }
        return null;
    }

    private static String value(String[] args, int i, String flag) {
        if (i >= args.length) {
            throw new IllegalArgumentException(flag + " needs a value");
        }
        return args[i];
    }

    private static int port(String s, String flag) {
        try {
            int p = Integer.parseInt(s);
            if (p < 0 || p > 65535) {
                throw new NumberFormatException();
            }
            return p;
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException(flag + ": not a port: " + s);
        }
    }

    /** "268435456", "256m", "1g", "512k" -> bytes. */
    static long bytes(String s) {
        String t = s.trim().toLowerCase(Locale.ROOT);
        long mult = 1;
        if (t.endsWith("k")) {
            mult = 1024L;
        } else if (t.endsWith("m")) {
            mult = 1024L * 1024;
        } else if (t.endsWith("g")) {
            mult = 1024L * 1024 * 1024;
        }
        if (mult != 1) {
            t = t.substring(0, t.length() - 1);
        }
        try {
            return Long.parseLong(t) * mult;
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException("--pagecache: not a size: " + s);
        }
    }

    private static String usage() {
        return "usage: kgloom.Neo4jLauncher --home DIR --bolt-port N [--http-port N] [--host 127.0.0.1]"
                + " [--pagecache 256m] [--password PW | --no-auth] [--conf key=value]... [--config FILE]"
                + " [--watch-stdin] [--delete-home-on-exit]";
    }
}
