/*
 * log: one JSON object per line on stderr, with time, level, message and
 * fields, so that log shippers and `jq` read it without a grammar.
 *
 *   nw_log_info("batch stored", NW_LI("items", n), NW_LS("topic", t));
 *
 * Never pass secrets as fields: the config module redacts them before they
 * could reach a log line.
 */
#ifndef NW_LOG_H
#define NW_LOG_H

#include <stdbool.h>
#include <stddef.h>

typedef enum {
    NW_LOG_DEBUG = 0,
    NW_LOG_INFO,
    NW_LOG_WARN,
    NW_LOG_ERROR,
} nw_loglevel_t;

typedef struct nw_logfield {
    const char *key;
    int type;          /* 1 string, 2 integer, 3 double, 4 bool */
    const char *s;
    long long i;
    double d;
} nw_logfield_t;

#define NW_LS(k, v) ((nw_logfield_t){.key = (k), .type = 1, .s = (v)})
#define NW_LI(k, v) ((nw_logfield_t){.key = (k), .type = 2, .i = (long long)(v)})
#define NW_LD(k, v) ((nw_logfield_t){.key = (k), .type = 3, .d = (double)(v)})
#define NW_LB(k, v) ((nw_logfield_t){.key = (k), .type = 4, .i = (v) ? 1 : 0})

/* Set the lowest level written; returns false for an unknown name. */
bool nw_log_set_level(const char *name);
void nw_log_set_service(const char *name);
bool nw_log_enabled(nw_loglevel_t level);

void nw_log_write(nw_loglevel_t level, const char *msg, const nw_logfield_t *fields, size_t n);

#define NW_LOG_(level, msg, ...)                                                                   \
    do {                                                                                           \
        if (nw_log_enabled(level)) {                                                               \
            const nw_logfield_t nw_f_[] = {{0}, __VA_ARGS__};                                      \
            nw_log_write(level, msg, nw_f_ + 1, sizeof nw_f_ / sizeof nw_f_[0] - 1);               \
        }                                                                                          \
    } while (0)

#define nw_log_debug(msg, ...) NW_LOG_(NW_LOG_DEBUG, msg, __VA_ARGS__)
#define nw_log_info(msg, ...) NW_LOG_(NW_LOG_INFO, msg, __VA_ARGS__)
#define nw_log_warn(msg, ...) NW_LOG_(NW_LOG_WARN, msg, __VA_ARGS__)
#define nw_log_error(msg, ...) NW_LOG_(NW_LOG_ERROR, msg, __VA_ARGS__)

#endif
