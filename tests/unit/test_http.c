/* Unit tests for http: the three endpoints over a real loopback socket,
 * readiness answers, methods, and the refusal of bad http.addr values. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "http.h"
#include "metrics.h"

/* One HTTP/1.0 request to 127.0.0.1:port; returns the status and copies the
 * whole response (headers and body) into out. */
static int request(int port, const char *method, const char *path, char *out, size_t cap)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(fd >= 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof sa), 0);
    char req[256];
    int n = snprintf(req, sizeof req, "%s %s HTTP/1.0\r\nHost: test\r\n\r\n", method, path);
    assert_int_equal(write(fd, req, (size_t)n), n);
    size_t got = 0;
    ssize_t r;
    while (got + 1 < cap && (r = read(fd, out + got, cap - 1 - got)) > 0)
        got += (size_t)r;
    out[got] = 0;
    close(fd);
    int status = 0;
    assert_int_equal(sscanf(out, "HTTP/1.%*d %d", &status), 1);
    return status;
}

static const char *body_of(const char *resp)
{
    const char *b = strstr(resp, "\r\n\r\n");
    return b ? b + 4 : "";
}

static int port_of(const nw_http_t *h)
{
    const char *a = strrchr(nw_http_addr(h), ':');
    assert_non_null(a);
    return atoi(a + 1);
}

static void test_endpoints(void **state)
{
    (void)state;
    nw_err_t err = {0};
    nw_http_t *h = nw_http_start("127.0.0.1:0", &err);
    assert_non_null(h);
    assert_true(strncmp(nw_http_addr(h), "127.0.0.1:", 10) == 0);
    int port = port_of(h);
    assert_true(port > 0);
    char resp[8192];

    nw_metric_t *c = nw_metric_counter("nw_test_requests_total", "Test counter.", "k");
    nw_metric_add(c, NW_LV("x"), 41);
    nw_metric_inc(c, NW_LV("x"));
    assert_int_equal(request(port, "GET", "/metrics", resp, sizeof resp), 200);
    assert_non_null(strstr(resp, "Content-Type: text/plain; version=0.0.4; charset=utf-8\r\n"));
    assert_non_null(strstr(body_of(resp), "# TYPE nw_test_requests_total counter\n"
                                          "nw_test_requests_total{k=\"x\"} 42\n"));

    assert_int_equal(request(port, "GET", "/healthz", resp, sizeof resp), 200);
    assert_string_equal(body_of(resp), "ok\n");

    /* every check starts failed; the body names what is missing */
    assert_int_equal(request(port, "GET", "/readyz", resp, sizeof resp), 503);
    assert_string_equal(body_of(resp),
                        "not ready: postgres unreachable; schema migrations pending; no kafka "
                        "broker up; no partitions assigned\n");
    nw_http_ready_set(NW_READY_POSTGRES, true);
    assert_int_equal(request(port, "GET", "/readyz", resp, sizeof resp), 503);
    assert_string_equal(body_of(resp), "not ready: schema migrations pending; no kafka broker up; "
                                       "no partitions assigned\n");
    nw_http_ready_set(NW_READY_SCHEMA, true);
    nw_http_ready_set(NW_READY_KAFKA, true);
    assert_int_equal(request(port, "GET", "/readyz", resp, sizeof resp), 503);
    assert_string_equal(body_of(resp), "not ready: no partitions assigned\n");
    nw_http_ready_set(NW_READY_PARTITIONS, true);
    assert_int_equal(request(port, "GET", "/readyz", resp, sizeof resp), 200);
    assert_string_equal(body_of(resp), "ready\n");
    assert_int_equal(request(port, "GET", "/metrics", resp, sizeof resp), 200);
    assert_non_null(strstr(body_of(resp), "newswire_ready{check=\"postgres\"} 1\n"
                                          "newswire_ready{check=\"schema\"} 1\n"
                                          "newswire_ready{check=\"kafka\"} 1\n"
                                          "newswire_ready{check=\"partitions\"} 1\n"));
    nw_http_ready_set(NW_READY_POSTGRES, false);
    assert_int_equal(request(port, "GET", "/readyz", resp, sizeof resp), 503);
    assert_string_equal(body_of(resp), "not ready: postgres unreachable\n");
    assert_int_equal(request(port, "GET", "/metrics", resp, sizeof resp), 200);
    assert_non_null(strstr(body_of(resp), "newswire_ready{check=\"postgres\"} 0\n"));
    nw_http_ready_set(NW_READY_POSTGRES, true);
    assert_int_equal(request(port, "HEAD", "/readyz", resp, sizeof resp), 200);
    assert_string_equal(body_of(resp), "");

    assert_int_equal(request(port, "GET", "/nope", resp, sizeof resp), 404);
    assert_int_equal(request(port, "POST", "/metrics", resp, sizeof resp), 405);
    assert_non_null(strstr(resp, "Allow: GET, HEAD\r\n"));

    nw_http_ready_stopping();
    assert_int_equal(request(port, "GET", "/readyz", resp, sizeof resp), 503);
    assert_string_equal(body_of(resp), "not ready: shutting down\n");
    assert_int_equal(request(port, "GET", "/healthz", resp, sizeof resp), 200);
    nw_http_stop(h);
    nw_metrics_reset();
}

static void test_bad_addresses(void **state)
{
    (void)state;
    const char *bad[] = {"", "8080", "localhost", "127.0.0.1:", "127.0.0.1:http", "::1:8080",
                         "127.0.0.1:70000", "[::1]8080", "no-such-host.invalid:8080"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        nw_err_t err = {0};
        assert_null(nw_http_start(bad[i], &err));
        assert_non_null(strstr(err.msg, "http.addr"));
    }
    /* a port in use is refused with the reason */
    nw_err_t err = {0};
    nw_http_t *a = nw_http_start("127.0.0.1:0", &err);
    assert_non_null(a);
    char taken[64];
    snprintf(taken, sizeof taken, "127.0.0.1:%d", port_of(a));
    assert_null(nw_http_start(taken, &err));
    assert_non_null(strstr(err.msg, "http.addr"));
    assert_non_null(strstr(err.msg, taken));
    nw_http_stop(a);
    /* the wildcard forms listen on every IPv4 interface */
    nw_http_t *w = nw_http_start(":0", &err);
    assert_non_null(w);
    assert_true(strncmp(nw_http_addr(w), "0.0.0.0:", 8) == 0);
    char resp[1024];
    assert_int_equal(request(port_of(w), "GET", "/healthz", resp, sizeof resp), 200);
    nw_http_stop(w);
    nw_http_stop(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_endpoints),
        cmocka_unit_test(test_bad_addresses),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
