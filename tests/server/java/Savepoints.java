import java.sql.*;

/** JDBC savepoints as Spring's nested transactions use them: setSavepoint, write,
 *  rollback(savepoint), releaseSavepoint, commit — then the rows the transaction left.
 *  args: jdbc-url table-suffix. Prints one line per observation (compared by the test). */
public class Savepoints {
    public static void main(String[] args) throws Exception {
        try (Connection c = DriverManager.getConnection(args[0])) {
            String t = "customers";
            c.setAutoCommit(false);
            try (Statement s = c.createStatement()) {
                s.executeUpdate("UPDATE " + t + " SET tier = 7 WHERE id = 1");
                Savepoint outer = c.setSavepoint("outer_sp");
                s.executeUpdate("UPDATE " + t + " SET tier = 8 WHERE id IN (2, 3, 4, 5)");
                Savepoint inner = c.setSavepoint("inner_sp");
                s.executeUpdate("DELETE FROM " + t + " WHERE id IN (6, 7, 8)");
                c.rollback(inner);
                print(s, "after rollback to inner", "SELECT COUNT(*), SUM(tier) FROM " + t);
                c.rollback(outer);
                print(s, "after rollback to outer", "SELECT COUNT(*), SUM(tier) FROM " + t);
                Savepoint third = c.setSavepoint();  // unnamed: the driver names it
                s.executeUpdate("UPDATE " + t + " SET tier = 9 WHERE id = 9");
                c.releaseSavepoint(third);
                try {
                    c.rollback(third);
                    System.out.println("rollback to a released savepoint: no error");
                } catch (SQLException e) {
                    System.out.println("rollback to a released savepoint: " + e.getErrorCode());
                }
                print(s, "before rollback", "SELECT id, tier FROM " + t + " WHERE id IN (1, 2, 6, 9) ORDER BY id");
            }
            c.rollback();  // the shared rows stay as loaded
        }
    }

    static void print(Statement s, String what, String sql) throws SQLException {
        try (ResultSet r = s.executeQuery(sql)) {
            StringBuilder b = new StringBuilder(what + ":");
            int n = r.getMetaData().getColumnCount();
            while (r.next()) {
                b.append(" (");
                for (int i = 1; i <= n; i++) b.append(i > 1 ? ", " : "").append(r.getString(i));
                b.append(")");
            }
            System.out.println(b);
        }
    }
}
