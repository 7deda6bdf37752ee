// What Connector/J sees of server-side prepared statements (useServerPrepStmts=true):
// the ResultSetMetaData of each statement before it runs (from COM_STMT_PREPARE), and
// the Java class getObject returns for each column of the first row after it runs.
// Statements come one per line on stdin; every '?' is bound to the int 1.
import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.ResultSetMetaData;

public class PreparedTypes {
    public static void main(String[] args) throws Exception {
        String url = "jdbc:mariadb://127.0.0.1:" + args[0] + "/" + args[1]
            + "?user=root&useServerPrepStmts=true";
        try (Connection c = DriverManager.getConnection(url)) {
            BufferedReader in = new BufferedReader(new InputStreamReader(System.in, "UTF-8"));
            String sql;
            while ((sql = in.readLine()) != null) {
                if (sql.isBlank()) {
                    continue;
                }
                try (PreparedStatement ps = c.prepareStatement(sql)) {
                    ResultSetMetaData md = ps.getMetaData();
                    StringBuilder out = new StringBuilder("PREPARE " + sql + " ->");
                    if (md == null) {
                        out.append(" none");
                    } else {
                        for (int i = 1; i <= md.getColumnCount(); i++) {
                            out.append(' ').append(md.getColumnLabel(i)).append(':')
                                .append(md.getColumnTypeName(i));
                        }
                    }
                    System.out.println(out);
                    int params = ps.getParameterMetaData().getParameterCount();
                    for (int i = 1; i <= params; i++) {
                        ps.setInt(i, 1);
                    }
                    try (ResultSet rs = ps.executeQuery()) {
                        ResultSetMetaData m = rs.getMetaData();
                        StringBuilder row = new StringBuilder("ROW " + sql + " ->");
                        if (rs.next()) {
                            for (int i = 1; i <= m.getColumnCount(); i++) {
                                Object o = rs.getObject(i);
                                row.append(' ').append(m.getColumnLabel(i)).append('=')
                                    .append(o == null ? "null" : o.getClass().getSimpleName());
                            }
                        }
                        System.out.println(row);
                    }
                }
            }
        }
    }
}
