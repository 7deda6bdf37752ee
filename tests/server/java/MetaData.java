// What a JDBC tool (GUI, Hibernate validate, Flyway, Liquibase) reads through
// DatabaseMetaData, printed one line per row so two servers' answers can be diffed.
// Usage: java -cp mariadb-java-client.jar:. MetaData <jdbc-url> <database> <table>...
import java.sql.*;

public class MetaData {
    static void dump(String label, ResultSet rs, String... skip) throws SQLException {
        ResultSetMetaData md = rs.getMetaData();
        StringBuilder head = new StringBuilder(label + " columns:");
        for (int i = 1; i <= md.getColumnCount(); i++) head.append(' ').append(md.getColumnLabel(i));
        System.out.println(head);
        while (rs.next()) {
            StringBuilder row = new StringBuilder(label + " row:");
            outer:
            for (int i = 1; i <= md.getColumnCount(); i++) {
                for (String s : skip) if (s.equalsIgnoreCase(md.getColumnLabel(i))) { row.append(" |*"); continue outer; }
                row.append(" |").append(rs.getString(i));
            }
            System.out.println(row);
        }
        rs.close();
    }

    public static void main(String[] args) throws Exception {
        String db = args[1];
        try (Connection c = DriverManager.getConnection(args[0])) {
            DatabaseMetaData md = c.getMetaData();
            dump("tables", md.getTables(db, null, "%", new String[] {"TABLE"}));
            for (int t = 2; t < args.length; t++) {
                String table = args[t];
                dump("columns " + table, md.getColumns(db, null, table, "%"));
                dump("primary " + table, md.getPrimaryKeys(db, null, table));
                dump("index " + table, md.getIndexInfo(db, null, table, false, false), "CARDINALITY", "PAGES");
                dump("unique " + table, md.getIndexInfo(db, null, table, true, false), "CARDINALITY", "PAGES");
                dump("imported " + table, md.getImportedKeys(db, null, table));
                try (Statement st = c.createStatement();
                     ResultSet rs = st.executeQuery("SELECT * FROM " + table + " ORDER BY 1 LIMIT 1")) {
                    ResultSetMetaData rmd = rs.getMetaData();
                    StringBuilder types = new StringBuilder("getObject " + table + ":");
                    rs.next();
                    for (int i = 1; i <= rmd.getColumnCount(); i++) {
                        Object o = rs.getObject(i);
                        types.append(' ').append(rmd.getColumnLabel(i)).append('=')
                            .append(o == null ? "null" : o.getClass().getSimpleName());
                    }
                    System.out.println(types);
                }
            }
            dump("schemas", md.getCatalogs());
        }
    }
}
