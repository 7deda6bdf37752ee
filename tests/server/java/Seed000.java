// Seed 000's workload through MariaDB Connector/J: THREADS threads each send BATCHES
// batches of ROWS-row INSERTs into db.t (16 int, 3 string, 1 timestamp columns), with
// rewriteBatchedStatements=true ("rewrite") or useServerPrepStmts=true ("serverprep"),
// then read one row back with a server-side prepared SELECT (binary result rows) and
// print COUNT(*). Exit status 0 only when every batch reported one row per statement.
// Usage: java Seed000 PORT rewrite|serverprep THREADS BATCHES ROWS [USER [PASSWORD [DATABASE]]]
import java.sql.*;
import java.util.*;
import java.util.concurrent.*;

public class Seed000 {
    public static void main(String[] a) {
        try { run(a); System.exit(0); } catch (Throwable e) { e.printStackTrace(); System.exit(1); }
    }
    static void run(String[] a) throws Exception {
        String port = a[0]; String mode = a[1];
        int threads = Integer.parseInt(a[2]); int batches = Integer.parseInt(a[3]); int rows = Integer.parseInt(a[4]);
        String opts = mode.equals("rewrite") ? "rewriteBatchedStatements=true" : "useServerPrepStmts=true";
        String user = a.length > 5 ? a[5] : "root", password = a.length > 6 ? a[6] : "";
        String db = a.length > 7 ? a[7] : "db";
        String url = "jdbc:mariadb://127.0.0.1:" + port + "/" + db + "?user=" + user + "&password=" + password + "&" + opts;
        ExecutorService pool = Executors.newFixedThreadPool(threads);
        List<Future<Integer>> fs = new ArrayList<>();
        long t0 = System.nanoTime();
        for (int t = 0; t < threads; t++) {
            final int tid = t;
            fs.add(pool.submit(() -> {
                int done = 0;
                try (Connection c = DriverManager.getConnection(url)) {
                    StringBuilder q = new StringBuilder("INSERT INTO " + db + ".t VALUES (");
                    for (int i = 0; i < 20; i++) q.append(i == 0 ? "?" : ",?");
                    q.append(")");
                    try (PreparedStatement ps = c.prepareStatement(q.toString())) {
                        for (int b = 0; b < batches; b++) {
                            for (int r = 0; r < rows; r++) {
                                int id = (tid * batches + b) * rows + r;
                                for (int i = 1; i <= 16; i++) ps.setInt(i, i == 1 ? id : id % (i * 7));
                                ps.setString(17, "s1-" + id);
                                ps.setString(18, "str'2\"" + tid);
                                ps.setString(19, "三-" + b);
                                ps.setTimestamp(20, new Timestamp(1700000000000L + id * 1000L));
                                ps.addBatch();
                            }
                            int[] res = ps.executeBatch();
                            for (int x : res) if (x != 1 && x != Statement.SUCCESS_NO_INFO) throw new RuntimeException("batch result " + x);
                            done += rows;
                        }
                    }
                }
                return done;
            }));
        }
        int total = 0;
        for (Future<Integer> f : fs) total += f.get();
        pool.shutdown();
        double secs = (System.nanoTime() - t0) / 1e9;
        try (Connection c = DriverManager.getConnection(url)) {
            // A server-side prepared SELECT: binary result rows, every column type of the table.
            try (PreparedStatement ps = c.prepareStatement("SELECT id1, id2, str1, str2, str3, dt FROM " + db + ".t WHERE id1 = ?")) {
                ps.setInt(1, 7);
                try (ResultSet rs = ps.executeQuery()) {
                    if (!rs.next()) throw new RuntimeException("row 7 missing");
                    if (rs.getInt(1) != 7 || rs.getInt(2) != 7 % 14 || !rs.getString(3).equals("s1-7") || !rs.getString(5).startsWith("三-"))
                        throw new RuntimeException("row 7 wrong: " + rs.getInt(1) + " " + rs.getString(3));
                    System.out.println("ROW7 " + rs.getInt(1) + " " + rs.getString(3) + " " + rs.getString(4) + " " + rs.getString(5) + " " + rs.getString(6));
                }
            }
            try (Statement s = c.createStatement(); ResultSet rs = s.executeQuery("SELECT COUNT(*) FROM " + db + ".t")) {
                rs.next();
                System.out.println("COUNT " + rs.getLong(1));
            }
        }
        System.out.printf("OK inserted=%d seconds=%.2f%n", total, secs);
    }
}
