/* Unit tests for pg: SQL array literals, and the binary COPY builder
 * round-tripped through a real PostgreSQL (skipped without NEWSWIRE_PG_DSN). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "pg.h"
#include "simindex_wire.h"

static void test_array_literals(void **state)
{
    (void)state;
    const char *v[] = {"plain", "quo\"te", "back\\slash", NULL, "", "{brace},comma"};
    char *a = nw_pg_text_array(v, 6);
    assert_string_equal(a, "{\"plain\",\"quo\\\"te\",\"back\\\\slash\",NULL,\"\","
                           "\"{brace},comma\"}");
    free(a);
    int64_t n[] = {1, -2, INT64_MAX};
    a = nw_pg_int8_array(n, 3);
    assert_string_equal(a, "{1,-2,9223372036854775807}");
    free(a);
    a = nw_pg_int8_array(n, 0);
    assert_string_equal(a, "{}");
    free(a);
}

static void test_copy_layout(void **state)
{
    (void)state;
    nw_copybuf_t b;
    nw_copy_init(&b);
    assert_int_equal(b.len, 19); /* signature, flags, extension length */
    assert_memory_equal(b.data, "PGCOPY\n\377\r\n\0", 11);
    nw_copy_row(&b, 2);
    nw_copy_int4(&b, 258);
    nw_copy_null(&b);
    const unsigned char want[] = {0, 2, 0, 0, 0, 4, 0, 0, 1, 2, 0xFF, 0xFF, 0xFF, 0xFF};
    assert_int_equal(b.len, 19 + sizeof want);
    assert_memory_equal(b.data + 19, want, sizeof want);
    assert_int_equal(b.rows, 1);
    nw_copy_free(&b);
}

/* A connection to NEWSWIRE_PG_DSN; the test is skipped when it is unset. */
static PGconn *connect_or_skip(void)
{
    const char *dsn = getenv("NEWSWIRE_PG_DSN");
    if (!dsn || !*dsn) {
        print_message("NEWSWIRE_PG_DSN unset: skipped\n");
        skip();
    }
    PGconn *c = PQconnectdb(dsn);
    assert_int_equal(PQstatus(c), CONNECTION_OK);
    return c;
}

/* Every type the store writes, through COPY and back: what the server reads
 * is what we meant. */
static void test_copy_roundtrip(void **state)
{
    (void)state;
    PGconn *c = connect_or_skip();
    nw_err_t err = {0};
    assert_true(nw_pg_exec(c, "SET TIME ZONE 'UTC'", "tz", &err));
    assert_true(nw_pg_exec(c,
                           "CREATE TEMP TABLE t (a bigint, b int, c smallint, d boolean, e real,"
                           " f text, g bytea, h jsonb, i uuid, j timestamptz, k timestamptz)",
                           "create", &err));
    nw_copybuf_t b;
    nw_copy_init(&b);
    nw_copy_row(&b, 11);
    nw_copy_int8(&b, -9000000000LL);
    nw_copy_int4(&b, 123456);
    nw_copy_int2(&b, 2);
    nw_copy_bool(&b, true);
    nw_copy_float4(&b, 0.25f);
    nw_copy_text(&b, "Déjà vu: 'quote' \"dq\" \\ \t tab");
    nw_copy_bytes(&b, "a\0b", 3);
    nw_copy_jsonb(&b, "{\"x\": [1, 2]}", 13);
    const unsigned char uuid[16] = {0x12, 0x34, 0x56, 0x78, 0x9a, 0xbc, 0x8d, 0xef,
                                    0x80, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77};
    nw_copy_uuid(&b, uuid);
    nw_copy_time(&b, 1700000000);
    nw_copy_time(&b, 0); /* unknown -> NULL */
    assert_true(nw_pg_copy(c, "t", &b, &err));
    nw_copy_free(&b);
    PGresult *r = PQexec(c, "SELECT a, b, c, d, e, f, encode(g, 'hex'), h::text, i::text,"
                            " to_char(j, 'YYYY-MM-DD HH24:MI:SS'), k IS NULL FROM t");
    assert_int_equal(PQresultStatus(r), PGRES_TUPLES_OK);
    assert_int_equal(PQntuples(r), 1);
    assert_string_equal(PQgetvalue(r, 0, 0), "-9000000000");
    assert_string_equal(PQgetvalue(r, 0, 1), "123456");
    assert_string_equal(PQgetvalue(r, 0, 2), "2");
    assert_string_equal(PQgetvalue(r, 0, 3), "t");
    assert_string_equal(PQgetvalue(r, 0, 4), "0.25");
    assert_string_equal(PQgetvalue(r, 0, 5), "Déjà vu: 'quote' \"dq\" \\ \t tab");
    assert_string_equal(PQgetvalue(r, 0, 6), "610062");
    assert_string_equal(PQgetvalue(r, 0, 7), "{\"x\": [1, 2]}");
    assert_string_equal(PQgetvalue(r, 0, 8), "12345678-9abc-8def-8011-223344556677");
    assert_string_equal(PQgetvalue(r, 0, 9), "2023-11-14 22:13:20");
    assert_string_equal(PQgetvalue(r, 0, 10), "t");
    PQclear(r);

    /* a bad row is a row error with its SQLSTATE, and the session goes on */
    nw_copy_init(&b);
    nw_copy_row(&b, 1);
    nw_copy_jsonb(&b, "{not json", 9);
    assert_false(nw_pg_copy(c, "t (h)", &b, &err));
    assert_int_equal(err.cls, NW_ERR_ROW);
    assert_string_equal(err.code, "22P02");
    nw_copy_free(&b);
    /* an encoding bug of ours (wrong binary width) is fatal, never a dead letter */
    nw_copy_init(&b);
    nw_copy_row(&b, 1);
    nw_copy_int4(&b, 1);
    assert_false(nw_pg_copy(c, "t (c)", &b, &err));
    assert_int_equal(err.cls, NW_ERR_FATAL);
    nw_copy_free(&b);
    /* streamed: the buffer handed over whenever it holds 64 bytes, reused */
    assert_true(nw_pg_exec(c, "CREATE TEMP TABLE s (n bigint, t text)", "create s", &err));
    nw_copy_init(&b);
    assert_true(nw_pg_copy_begin(c, "s (n, t)", &err));
    size_t sends = 0;
    for (int i = 1; i <= 100; i++) {
        nw_copy_row(&b, 2);
        nw_copy_int8(&b, i);
        nw_copy_text(&b, "twenty-five bytes of text");
        size_t before = b.len;
        assert_true(nw_pg_copy_send(c, &b, 64, &err));
        sends += b.len == 0;
        assert_true(b.len == 0 || b.len == before);
    }
    assert_true(sends >= 40); /* ~43 bytes a row: every second row */
    assert_true(nw_pg_copy_end(c, "s (n, t)", &b, true, &err));
    r = PQexec(c, "SELECT count(*), sum(n), min(t) = max(t) FROM s");
    assert_string_equal(PQgetvalue(r, 0, 0), "100");
    assert_string_equal(PQgetvalue(r, 0, 1), "5050");
    assert_string_equal(PQgetvalue(r, 0, 2), "t");
    PQclear(r);
    /* abandoned half way (the caller failed): nothing stored, the session goes on */
    nw_copy_reset(&b);
    assert_int_equal(b.rows, 0);
    assert_true(nw_pg_copy_begin(c, "s (n, t)", &err));
    nw_copy_row(&b, 2);
    nw_copy_int8(&b, 7);
    nw_copy_text(&b, "x");
    assert_true(nw_pg_copy_send(c, &b, 0, &err));
    assert_false(nw_pg_copy_end(c, "s (n, t)", &b, false, &err));
    assert_int_equal(PQtransactionStatus(c), PQTRANS_IDLE);
    r = PQexec(c, "SELECT count(*) FROM s");
    assert_string_equal(PQgetvalue(r, 0, 0), "100");
    PQclear(r);
    /* a bad row in a later chunk: the error comes at the end, with its class */
    nw_copy_reset(&b);
    assert_true(nw_pg_copy_begin(c, "s (n, t)", &err));
    nw_copy_row(&b, 2);
    nw_copy_int8(&b, 8);
    nw_copy_text(&b, "ok");
    assert_true(nw_pg_copy_send(c, &b, 0, &err));
    nw_copy_row(&b, 2);
    nw_copy_int8(&b, 9);
    nw_copy_bytes(&b, "\xff\xfe", 2); /* not UTF-8 */
    assert_false(nw_pg_copy_end(c, "s (n, t)", &b, true, &err));
    assert_int_equal(err.cls, NW_ERR_ROW);
    assert_string_equal(err.code, "22021");
    r = PQexec(c, "SELECT count(*) FROM s");
    assert_string_equal(PQgetvalue(r, 0, 0), "100");
    PQclear(r);
    nw_copy_free(&b);
    /* parameters are freed by nw_pg_run, and go through as arrays */
    nw_pg_params_t pp = {0};
    const char *names[] = {"x", "y\"z"};
    nw_pg_add_texts(&pp, names, 2);
    r = nw_pg_run(c, "SELECT array_length($1::text[], 1), ($1::text[])[2]", &pp, PGRES_TUPLES_OK,
                  "params", &err);
    assert_non_null(r);
    assert_int_equal(pp.n, 0);
    assert_string_equal(PQgetvalue(r, 0, 0), "2");
    assert_string_equal(PQgetvalue(r, 0, 1), "y\"z");
    PQclear(r);
    PQfinish(c);
}

/* The similarity index's statements get the classes of every other
 * statement: a read-only server (an old primary after a failover) or a
 * cancelled statement is retried, never fatal. */
static void test_simindex_error_classes(void **state)
{
    (void)state;
    PGconn *c = connect_or_skip();
    nw_err_t err = {0};
    assert_true(nw_pg_exec(c, "BEGIN READ ONLY", "begin", &err));
    /* refused before anything is made (a temporary table would be allowed) */
    PGresult *r = PQexec(c, "CREATE TABLE nw_read_only_probe (a int)");
    assert_false(nw_simw_ok(c, r, PGRES_COMMAND_OK, "insert", &err));
    PQclear(r);
    assert_int_equal(err.cls, NW_ERR_TRANSIENT);
    assert_string_equal(err.code, "25006");
    assert_true(strncmp(err.msg, "simindex: insert: ", 18) == 0);
    assert_true(nw_pg_exec(c, "ROLLBACK", "rollback", &err));
    assert_true(nw_pg_exec(c, "SET statement_timeout = 10", "timeout", &err));
    r = PQexec(c, "SELECT pg_sleep(5)");
    assert_false(nw_simw_ok(c, r, PGRES_TUPLES_OK, "candidates", &err));
    PQclear(r);
    assert_int_equal(err.cls, NW_ERR_TRANSIENT);
    assert_string_equal(err.code, "57014");
    /* a result of another kind than wanted is a bug of ours */
    r = PQexec(c, "SELECT 1");
    assert_false(nw_simw_ok(c, r, PGRES_COMMAND_OK, "planner settings", &err));
    PQclear(r);
    assert_int_equal(err.cls, NW_ERR_FATAL);
    PQfinish(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_array_literals),
        cmocka_unit_test(test_copy_layout),
        cmocka_unit_test(test_copy_roundtrip),
        cmocka_unit_test(test_simindex_error_classes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
