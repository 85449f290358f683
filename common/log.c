#include "log.h"

#include <jansson.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static nw_loglevel_t min_level = NW_LOG_INFO;
static char service[48] = "newswire";
static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;

static const char *level_names[] = {"debug", "info", "warn", "error"};

bool nw_log_set_level(const char *name)
{
    for (size_t i = 0; i < sizeof level_names / sizeof level_names[0]; i++) {
        if (strcmp(name, level_names[i]) == 0) {
            min_level = (nw_loglevel_t)i;
            return true;
        }
    }
    if (strcmp(name, "warning") == 0) {
        min_level = NW_LOG_WARN;
        return true;
    }
    return false;
}

void nw_log_set_service(const char *name)
{
    snprintf(service, sizeof service, "%s", name);
}

bool nw_log_enabled(nw_loglevel_t level)
{
    return level >= min_level;
}

/* A JSON string for a field value; bytes that are not valid UTF-8 (a field
 * may quote untrusted input) become '?' rather than losing the line. */
static json_t *log_string(const char *s)
{
    json_t *v = json_string(s);
    if (v)
        return v;
    size_t n = strlen(s);
    char *copy = malloc(n + 1);
    if (!copy)
        return json_null();
    for (size_t i = 0; i < n; i++)
        copy[i] = (unsigned char)s[i] < 0x80 ? s[i] : '?';
    copy[n] = 0;
    v = json_string(copy);
    free(copy);
    return v ? v : json_null();
}

/* Build the line with jansson so that every string is escaped correctly,
 * whatever bytes an agency put in an id; write it with one fputs under a lock
 * so lines from librdkafka's threads never interleave. */
void nw_log_write(nw_loglevel_t level, const char *msg, const nw_logfield_t *fields, size_t n)
{
    struct timespec ts;
    struct tm tm;
    char when[40];
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    size_t w = strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(when + w, sizeof when - w, ".%03ldZ", ts.tv_nsec / 1000000);

    json_t *o = json_object();
    json_object_set_new(o, "time", json_string(when));
    json_object_set_new(o, "level", json_string(level_names[level]));
    json_object_set_new(o, "service", json_string(service));
    json_object_set_new(o, "msg", json_string(msg ? msg : ""));
    for (size_t i = 0; i < n; i++) {
        const nw_logfield_t *f = &fields[i];
        if (!f->key)
            continue;
        json_t *v = NULL;
        switch (f->type) {
        case 1: v = f->s ? log_string(f->s) : json_null(); break;
        case 2: v = json_integer(f->i); break;
        case 3: v = json_real(f->d); break;
        case 4: v = json_boolean(f->i); break;
        }
        if (v)
            json_object_set_new(o, f->key, v);
    }
    char *line = json_dumps(o, JSON_COMPACT | JSON_ENSURE_ASCII);
    json_decref(o);
    if (!line)
        return;
    pthread_mutex_lock(&log_lock);
    fputs(line, stderr);
    fputc('\n', stderr);
    fflush(stderr);
    pthread_mutex_unlock(&log_lock);
    free(line);
}
