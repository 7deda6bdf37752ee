// Every row of server-side prepared statements (useServerPrepStmts=true: the binary
// protocol) as Connector/J's getObject decodes it: per column the label, the Java class
// and the value. Statements come one per line on stdin as "<int param>\t<sql>" (the
// param is bound to every '?').
import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.math.BigDecimal;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.ResultSetMetaData;

public class ColumnValues {
    private static String show(Object o) {
        if (o == null) {
            return "null";
        }
        String value;
        if (o instanceof byte[]) {
            StringBuilder hex = new StringBuilder("0x");
            for (byte b : (byte[]) o) {
                hex.append(String.format("%02x", b));
            }
            value = hex.toString();
        } else if (o instanceof BigDecimal) {
            value = ((BigDecimal) o).toPlainString();
        } else {
            value = o.toString();
        }
        return o.getClass().getSimpleName() + ":" + value;
    }

    public static void main(String[] args) throws Exception {
        String url = "jdbc:mariadb://127.0.0.1:" + args[0] + "/" + args[1]
            + "?user=root&useServerPrepStmts=true";
        try (Connection c = DriverManager.getConnection(url)) {
            BufferedReader in = new BufferedReader(new InputStreamReader(System.in, "UTF-8"));
            String line;
            while ((line = in.readLine()) != null) {
                if (line.isBlank()) {
                    continue;
                }
                String[] parts = line.split("\t", 2);
                int param = Integer.parseInt(parts[0]);
                String sql = parts[1];
                try (PreparedStatement ps = c.prepareStatement(sql)) {
                    int params = ps.getParameterMetaData().getParameterCount();
                    for (int i = 1; i <= params; i++) {
                        ps.setInt(i, param);
                    }
                    try (ResultSet rs = ps.executeQuery()) {
                        ResultSetMetaData m = rs.getMetaData();
                        int rows = 0;
                        while (rs.next()) {
                            StringBuilder row = new StringBuilder("ROW " + sql + " ->");
                            for (int i = 1; i <= m.getColumnCount(); i++) {
                                row.append(' ').append(m.getColumnLabel(i)).append('=')
                                    .append(show(rs.getObject(i)));
                            }
                            System.out.println(row);
                            rows++;
                        }
                        System.out.println("END " + sql + " " + rows + " rows");
                    }
                }
            }
        }
    }
}
