/* Unit tests for config: precedence, validation, passthrough, secrets. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "config.h"

static const char *const used[] = {"kafka.brokers", "pg.dsn", "batch.size", "log.level",
                                   "feed.progress", NULL};

static void clear_env(void)
{
    unsetenv("NEWSWIRE_KAFKA_BROKERS");
    unsetenv("NEWSWIRE_PG_DSN");
    unsetenv("NEWSWIRE_PG_DSN_FILE");
    unsetenv("NEWSWIRE_BATCH_SIZE");
    unsetenv("NEWSWIRE_LOG_LEVEL");
    unsetenv("NEWSWIRE_CONFIG");
    unsetenv("NEWSWIRE_KAFKA__SOCKET_TIMEOUT_MS");
}

static int load(nw_config_t *cfg, nw_err_t *err, int argc, char **argv)
{
    char **rest = NULL;
    int nrest = 0;
    int rc = nw_config_load(cfg, "test", "test", used, argc, argv, &rest, &nrest, err);
    free(rest);
    return rc;
}

static void test_defaults(void **state)
{
    (void)state;
    clear_env();
    nw_config_t cfg;
    nw_err_t err = {0};
    char *argv[] = {"test", NULL};
    assert_int_equal(load(&cfg, &err, 1, argv), 0);
    assert_string_equal(cfg.kafka_brokers, "127.0.0.1:9092");
    assert_int_equal(cfg.batch_size, 500);
    assert_int_equal(cfg.progress, -1); /* auto */
    nw_config_free(&cfg);
}

/* flag > environment > file > default */
static void test_precedence(void **state)
{
    (void)state;
    clear_env();
    char path[] = "/tmp/nwcfgXXXXXX";
    int fd = mkstemp(path);
    const char text[] = "# settings\nbatch.size = 7\nkafka.brokers = 'file:1'\n"
                        "log.level=debug\nkafka.opt.socket.timeout.ms = 1000\n";
    assert_int_equal(write(fd, text, sizeof text - 1), (int)(sizeof text - 1));
    close(fd);
    setenv("NEWSWIRE_CONFIG", path, 1);
    setenv("NEWSWIRE_KAFKA_BROKERS", "env:1", 1);
    setenv("NEWSWIRE_KAFKA__SOCKET_TIMEOUT_MS", "2000", 1);
    nw_config_t cfg;
    nw_err_t err = {0};
    char *argv[] = {"test", "--batch-size=9", "--kafka-opt", "queue.buffering.max.ms=3", "file.xml",
                    NULL};
    char **rest = NULL;
    int nrest = 0;
    assert_int_equal(nw_config_load(&cfg, "test", "test", used, 5, argv, &rest, &nrest, &err), 0);
    assert_int_equal(cfg.batch_size, 9);                   /* flag */
    assert_string_equal(cfg.kafka_brokers, "env:1");       /* environment over file */
    assert_string_equal(cfg.log_level, "debug");           /* file */
    assert_int_equal(nrest, 1);
    assert_string_equal(rest[0], "file.xml");
    bool seen_env = false, seen_flag = false;
    for (size_t i = 0; i < cfg.n_kafka_opts; i++) {
        if (!strcmp(cfg.kafka_opts[i].key, "socket.timeout.ms"))
            seen_env = !strcmp(cfg.kafka_opts[i].value, "2000"); /* env over file */
        if (!strcmp(cfg.kafka_opts[i].key, "queue.buffering.max.ms"))
            seen_flag = !strcmp(cfg.kafka_opts[i].value, "3");
    }
    assert_true(seen_env && seen_flag);
    free(rest);
    nw_config_free(&cfg);
    unlink(path);
    clear_env();
}

static void test_invalid_values_name_the_setting(void **state)
{
    (void)state;
    clear_env();
    nw_config_t cfg;
    nw_err_t err = {0};
    char *a1[] = {"test", "--batch-size=0", NULL};
    assert_int_equal(load(&cfg, &err, 2, a1), -1);
    assert_non_null(strstr(err.msg, "batch.size"));
    assert_non_null(strstr(err.msg, "--batch-size"));
    setenv("NEWSWIRE_LOG_LEVEL", "loud", 1);
    char *a2[] = {"test", NULL};
    assert_int_equal(load(&cfg, &err, 1, a2), -1);
    assert_non_null(strstr(err.msg, "NEWSWIRE_LOG_LEVEL"));
    unsetenv("NEWSWIRE_LOG_LEVEL");
    char *a3[] = {"test", "--nope", NULL};
    assert_int_equal(load(&cfg, &err, 2, a3), -1);
    assert_non_null(strstr(err.msg, "--nope"));
    char *a4[] = {"test", "--kafka-opt", "novalue", NULL};
    assert_int_equal(load(&cfg, &err, 3, a4), -1);
    assert_non_null(strstr(err.msg, "KEY=VALUE"));
}

static void test_secret_file(void **state)
{
    (void)state;
    clear_env();
    char path[] = "/tmp/nwsecXXXXXX";
    int fd = mkstemp(path);
    const char dsn[] = "postgresql://u:s3cret@h/db\n";
    assert_int_equal(write(fd, dsn, sizeof dsn - 1), (int)(sizeof dsn - 1));
    close(fd);
    setenv("NEWSWIRE_PG_DSN_FILE", path, 1);
    nw_config_t cfg;
    nw_err_t err = {0};
    char *argv[] = {"test", NULL};
    assert_int_equal(load(&cfg, &err, 1, argv), 0);
    assert_string_equal(cfg.pg_dsn, "postgresql://u:s3cret@h/db"); /* trimmed */
    char *r = nw_config_redact_dsn(cfg.pg_dsn);
    assert_null(strstr(r, "s3cret"));
    free(r);
    nw_config_free(&cfg);
    unlink(path);
    clear_env();
}

static void test_redact_forms(void **state)
{
    (void)state;
    const char *cases[][2] = {
        {"host=h password=abc dbname=x", "abc"},
        {"host=h password='a b\\'c' dbname=x", "a b"},
        {"postgresql://u:pw@h:5432/db", "pw@"},
        {"postgresql://u@h/db?password=qq&sslmode=require", "qq"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *r = nw_config_redact_dsn(cases[i][0]);
        assert_non_null(r);
        assert_null(strstr(r, cases[i][1]));
        free(r);
    }
    char *r = nw_config_redact_dsn("host=h dbname=x");
    assert_string_equal(r, "host=h dbname=x");
    free(r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_precedence),
        cmocka_unit_test(test_invalid_values_name_the_setting),
        cmocka_unit_test(test_secret_file),
        cmocka_unit_test(test_redact_forms),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
