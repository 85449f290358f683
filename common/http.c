#include "http.h"

#include <arpa/inet.h>
#include <errno.h>
#include <microhttpd.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "log.h"
#include "metrics.h"

struct nw_http {
    struct MHD_Daemon *daemon;
    char addr[80]; /* what was bound, with the real port */
};

/* ---- readiness ------------------------------------------------------------------ */

static atomic_int ready_checks[NW_READY_NCHECKS];
static atomic_int ready_stopping;

static const char *const check_names[NW_READY_NCHECKS] = {"postgres", "schema", "kafka",
                                                          "partitions"};
static const char *const check_failed[NW_READY_NCHECKS] = {
    "postgres unreachable", "schema migrations pending", "no kafka broker up",
    "no partitions assigned"};

/* newswire_ready{check}: readiness in the metrics too, for alerts and graphs.
 * Looked up at each change (rare), never cached across nw_metrics_reset(). */
static void export_check(int check, bool ok)
{
    nw_metric_t *g =
        nw_metric_gauge("newswire_ready",
                        "1 when the readiness check (postgres, schema, kafka, partitions) "
                        "passes; /readyz is 200 when all do.",
                        "check");
    nw_metric_set(g, NW_LV(check_names[check]), ok ? 1 : 0);
}

void nw_http_ready_set(nw_ready_check_t check, bool ok)
{
    if ((unsigned)check >= NW_READY_NCHECKS)
        return;
    int was = atomic_exchange(&ready_checks[check], ok ? 1 : 0);
    if (was == (ok ? 1 : 0))
        return;
    export_check(check, ok);
    nw_log_info(ok ? "readiness check passes" : "readiness check fails",
                NW_LS("check", check_names[check]));
}

bool nw_http_ready_get(nw_ready_check_t check)
{
    return (unsigned)check < NW_READY_NCHECKS && atomic_load(&ready_checks[check]);
}

void nw_http_ready_stopping(void)
{
    atomic_store(&ready_stopping, 1);
}

bool nw_http_ready(char *why, size_t cap)
{
    size_t n = 0;
    bool ok = true;
    if (why && cap)
        why[0] = 0;
    if (atomic_load(&ready_stopping)) {
        if (why && cap)
            snprintf(why, cap, "shutting down");
        return false;
    }
    for (int i = 0; i < NW_READY_NCHECKS; i++) {
        if (atomic_load(&ready_checks[i]))
            continue;
        if (why && n < cap)
            n += (size_t)snprintf(why + n, cap - n, "%s%s", ok ? "" : "; ", check_failed[i]);
        ok = false;
    }
    return ok;
}

/* ---- requests ---------------------------------------------------------------------- */

static enum MHD_Result reply(struct MHD_Connection *c, unsigned status, const char *type,
                             char *body, size_t len, enum MHD_ResponseMemoryMode mode)
{
    struct MHD_Response *r = MHD_create_response_from_buffer(len, body, mode);
    if (!r) {
        if (mode == MHD_RESPMEM_MUST_FREE)
            free(body);
        return MHD_NO;
    }
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, type);
    MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
    if (status == MHD_HTTP_METHOD_NOT_ALLOWED)
        MHD_add_response_header(r, MHD_HTTP_HEADER_ALLOW, "GET, HEAD");
    enum MHD_Result ret = MHD_queue_response(c, status, r);
    MHD_destroy_response(r);
    return ret;
}

static enum MHD_Result reply_text(struct MHD_Connection *c, unsigned status, const char *text)
{
    return reply(c, status, "text/plain; charset=utf-8", (char *)text, strlen(text),
                 MHD_RESPMEM_PERSISTENT);
}

/* Runs on libmicrohttpd's thread: only reads the registry (under its lock)
 * and the readiness atomics. */
static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url,
                                  const char *method, const char *version, const char *upload,
                                  size_t *upload_size, void **req_cls)
{
    if (strcmp(method, MHD_HTTP_METHOD_GET) && strcmp(method, MHD_HTTP_METHOD_HEAD))
        return reply_text(c, MHD_HTTP_METHOD_NOT_ALLOWED, "method not allowed\n");
    if (!strcmp(url, "/metrics")) {
        size_t len = 0;
        char *body = nw_metrics_render(&len);
        if (!body)
            return reply_text(c, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory\n");
        return reply(c, MHD_HTTP_OK, NW_METRICS_CONTENT_TYPE, body, len, MHD_RESPMEM_MUST_FREE);
    }
    if (!strcmp(url, "/healthz"))
        return reply_text(c, MHD_HTTP_OK, "ok\n");
    if (!strcmp(url, "/readyz")) {
        char why[256], body[300];
        bool ok = nw_http_ready(why, sizeof why);
        snprintf(body, sizeof body, ok ? "ready\n" : "not ready: %s\n", why);
        return reply(c, ok ? MHD_HTTP_OK : MHD_HTTP_SERVICE_UNAVAILABLE,
                     "text/plain; charset=utf-8", body, strlen(body), MHD_RESPMEM_MUST_COPY);
    }
    return reply_text(c, MHD_HTTP_NOT_FOUND, "not found: try /metrics, /healthz or /readyz\n");
}

/* libmicrohttpd's own messages, as JSON log lines like everything else. */
static void on_mhd_log(void *cls, const char *fmt, va_list ap)
{
    char msg[512];
    vsnprintf(msg, sizeof msg, fmt, ap);
    msg[strcspn(msg, "\r\n")] = 0;
    nw_log_warn("http server", NW_LS("detail", msg));
}

/* ---- start and stop ------------------------------------------------------------------ */

/* Split "host:port", "[v6]:port", ":port", "*:port"; host "" = any interface. */
static bool split_addr(const char *addr, char *host, size_t hcap, char *port, size_t pcap)
{
    const char *colon;
    if (addr[0] == '[') {
        const char *end = strchr(addr, ']');
        if (!end || end[1] != ':')
            return false;
        snprintf(host, hcap, "%.*s", (int)(end - addr - 1), addr + 1);
        colon = end + 1;
    } else {
        colon = strrchr(addr, ':');
        if (!colon || memchr(addr, ':', (size_t)(colon - addr)))
            return false; /* an IPv6 address needs brackets */
        snprintf(host, hcap, "%.*s", (int)(colon - addr), addr);
        if (!strcmp(host, "*"))
            host[0] = 0;
    }
    const char *p = colon + 1;
    if (!*p || strspn(p, "0123456789") != strlen(p) || strlen(p) > 5 || atol(p) > 65535)
        return false;
    snprintf(port, pcap, "%s", p);
    return true;
}

nw_http_t *nw_http_start(const char *addr, nw_err_t *err)
{
    char host[256], port[8];
    if (!addr || !split_addr(addr, host, sizeof host, port, sizeof port)) {
        nw_err_set(err, NW_ERR_FATAL, "config",
                   "http.addr: '%s' is not host:port (e.g. 127.0.0.1:8080, [::1]:8080, :8080)",
                   addr ? addr : "");
        return NULL;
    }
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM,
                             .ai_flags = AI_PASSIVE | AI_NUMERICSERV};
    if (!*host)
        hints.ai_family = AF_INET; /* every IPv4 interface: what containers publish */
    struct addrinfo *ai = NULL;
    int gai = getaddrinfo(*host ? host : NULL, port, &hints, &ai);
    if (gai != 0 || !ai) {
        nw_err_set(err, NW_ERR_FATAL, "config", "http.addr: cannot resolve '%s': %s", host,
                   gai_strerror(gai));
        return NULL;
    }
    nw_http_t *h = calloc(1, sizeof *h);
    unsigned flags = MHD_USE_AUTO_INTERNAL_THREAD | MHD_USE_ERROR_LOG;
    if (ai->ai_family == AF_INET6)
        flags |= MHD_USE_IPv6;
    errno = 0;
    h->daemon = MHD_start_daemon(
        flags, (uint16_t)atoi(port), NULL, NULL, on_request, NULL, MHD_OPTION_EXTERNAL_LOGGER,
        on_mhd_log, NULL, MHD_OPTION_SOCK_ADDR, ai->ai_addr, MHD_OPTION_CONNECTION_LIMIT, 64u,
        MHD_OPTION_CONNECTION_TIMEOUT, 10u, MHD_OPTION_END);
    int bind_errno = errno;
    char numeric[INET6_ADDRSTRLEN] = "";
    getnameinfo(ai->ai_addr, ai->ai_addrlen, numeric, sizeof numeric, NULL, 0, NI_NUMERICHOST);
    int family = ai->ai_family;
    freeaddrinfo(ai);
    if (!h->daemon) {
        nw_err_set(err, NW_ERR_FATAL, "config", "http.addr: cannot listen on %s: %s", addr,
                   bind_errno ? strerror(bind_errno) : "libmicrohttpd refused to start");
        free(h);
        return NULL;
    }
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(h->daemon, MHD_DAEMON_INFO_BIND_PORT);
    unsigned bound = info ? info->port : (unsigned)atoi(port);
    snprintf(h->addr, sizeof h->addr, family == AF_INET6 ? "[%s]:%u" : "%s:%u", numeric, bound);
    for (int i = 0; i < NW_READY_NCHECKS; i++)
        export_check(i, atomic_load(&ready_checks[i]));
    nw_log_info("http listening", NW_LS("addr", h->addr),
                NW_LS("endpoints", "/metrics /healthz /readyz"));
    return h;
}

const char *nw_http_addr(const nw_http_t *h)
{
    return h ? h->addr : "";
}

void nw_http_stop(nw_http_t *h)
{
    if (!h)
        return;
    MHD_stop_daemon(h->daemon);
    free(h);
}
