import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;

/**
 * How MariaDB Connector/J classifies the coordinator's backend errors (issue 12 item 7).
 *
 * Usage: ErrorClasses PORT DATABASE MODE FAILING_SQL PROBE_SQL [HOLD_SQL]
 *   MODE "plain": FAILING_SQL must fail; then the same connection must still be valid
 *                 and answer PROBE_SQL.
 *   MODE "hold":  a second connection runs HOLD_SQL in an open transaction first (it
 *                 keeps a backend connection busy), then as "plain", then rolls back.
 *
 * Prints "ERROR <sqlstate> <code> <exception class>", "VALID <bool>", "AFTER <value>".
 * A JDBC pool evicts a connection whose SQLException has SQLSTATE class 08; the test
 * asserts on these lines.
 */
public class ErrorClasses {
    public static void main(String[] args) throws Exception {
        String url = "jdbc:mariadb://127.0.0.1:" + args[0] + "/" + args[1]
            + "?user=root&password=&connectTimeout=5000&socketTimeout=30000";
        String mode = args[2];
        Connection holder = null;
        try (Connection conn = DriverManager.getConnection(url)) {
            if (mode.equals("hold")) {
                holder = DriverManager.getConnection(url);
                holder.setAutoCommit(false);
                try (Statement st = holder.createStatement()) {
                    st.executeUpdate(args[5]);
                }
            }
            try (Statement st = conn.createStatement(); ResultSet rs = st.executeQuery(args[3])) {
                while (rs.next()) {
                    // drain
                }
                System.out.println("NOERROR");
            } catch (SQLException e) {
                System.out.println("ERROR " + e.getSQLState() + " " + e.getErrorCode() + " "
                    + e.getClass().getName());
            }
            if (holder != null) {
                holder.rollback();
                holder.close();
            }
            System.out.println("VALID " + conn.isValid(5));
            try (Statement st = conn.createStatement(); ResultSet rs = st.executeQuery(args[4])) {
                rs.next();
                System.out.println("AFTER " + rs.getString(1));
            }
        }
    }
}
