#include "timeparse.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>

/* Days since 1970-01-01 for a proleptic Gregorian date (H. Hinnant's
 * days_from_civil): avoids timegm() and the process time zone entirely. */
static int64_t days_from_civil(int64_t y, unsigned m, unsigned d)
{
    y -= m <= 2;
    const int64_t era = (y >= 0 ? y : y - 399) / 400;
    const unsigned yoe = (unsigned)(y - era * 400);
    const unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + (int64_t)doe - 719468;
}

int64_t nw_time_from_civil(int y, int mon, int d, int h, int mi, int s)
{
    return days_from_civil(y, (unsigned)mon, (unsigned)d) * 86400 + h * 3600 + mi * 60 + s;
}

static int days_in_month(int y, int m)
{
    static const int dm[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (m == 2 && ((y % 4 == 0 && y % 100 != 0) || y % 400 == 0))
        return 29;
    return dm[m - 1];
}

/* Read exactly n digits at *p into *v and advance; false when fewer. */
static bool digits(const char **p, int n, int *v)
{
    int x = 0;
    for (int i = 0; i < n; i++) {
        if (!isdigit((unsigned char)(*p)[i]))
            return false;
        x = x * 10 + ((*p)[i] - '0');
    }
    *p += n;
    *v = x;
    return true;
}

/* Offset suffix: Z | z | [+-]HH | [+-]HHMM | [+-]HH:MM, optionally preceded by
 * "GMT"/"UTC" (Reuters: "GMT+00:00"; also plain "GMT"). Seconds east of UTC. */
static bool offset(const char **pp, int *secs)
{
    const char *p = *pp;
    bool named = false;
    if (!strncmp(p, "GMT", 3) || !strncmp(p, "UTC", 3)) {
        p += 3;
        named = true;
    }
    if (*p == 'Z' || *p == 'z') {
        *secs = 0;
        *pp = p + 1;
        return true;
    }
    if (*p != '+' && *p != '-') {
        if (!named)
            return false;
        *secs = 0;
        *pp = p;
        return true;
    }
    int sign = *p == '-' ? -1 : 1, hh, mm = 0;
    p++;
    if (!digits(&p, 2, &hh))
        return false;
    if (*p == ':') {
        p++;
        if (!digits(&p, 2, &mm))
            return false;
    } else if (isdigit((unsigned char)*p)) {
        if (!digits(&p, 2, &mm))
            return false;
    }
    if (hh > 18 || mm > 59)
        return false;
    *secs = sign * (hh * 3600 + mm * 60);
    *pp = p;
    return true;
}

/* Parses both the extended (2018-02-26T21:20:36) and the basic
 * (20140829T134951) ISO 8601 forms, then fraction and offset, because the
 * agencies mix them freely and a separate parser per form would drift. */
bool nw_time_parse(const char *s, int64_t *out)
{
    if (!s)
        return false;
    while (isspace((unsigned char)*s))
        s++;
    const char *p = s;
    int y, mo, d, h, mi, sec = 0, off = 0;
    bool ext = strlen(p) >= 10 && p[4] == '-';
    if (!digits(&p, 4, &y))
        return false;
    if (ext && *p++ != '-')
        return false;
    if (!digits(&p, 2, &mo))
        return false;
    if (ext && *p++ != '-')
        return false;
    if (!digits(&p, 2, &d))
        return false;
    if (*p != 'T' && *p != 't' && *p != ' ')
        return false;
    p++;
    if (!digits(&p, 2, &h))
        return false;
    if (ext && *p++ != ':')
        return false;
    if (!digits(&p, 2, &mi))
        return false;
    if (ext ? *p == ':' : isdigit((unsigned char)*p)) {
        if (ext)
            p++;
        if (!digits(&p, 2, &sec))
            return false;
    }
    if (*p == '.' || *p == ',') {
        p++;
        if (!isdigit((unsigned char)*p))
            return false;
        while (isdigit((unsigned char)*p))
            p++;
    }
    while (*p == ' ')
        p++;
    if (!offset(&p, &off))
        return false;
    while (isspace((unsigned char)*p))
        p++;
    if (*p)
        return false;
    if (y < 1900 || y > 2200 || mo < 1 || mo > 12 || d < 1 || d > days_in_month(y, mo) ||
        h > 24 || mi > 59 || sec > 60 || (h == 24 && (mi || sec)))
        return false;
    if (sec == 60)
        sec = 59; /* a leap second: keep it inside the minute */
    *out = nw_time_from_civil(y, mo, d, h, mi, sec) - off;
    return true;
}

bool nw_time_parse_anpa(const char *s, int64_t *out)
{
    if (!s)
        return false;
    for (const char *p = s; *p; p++) {
        const char *q = p;
        int mo, d, yy, h, mi;
        if (!digits(&q, 2, &mo) || *q++ != '-' || !digits(&q, 2, &d) || *q++ != '-' ||
            !digits(&q, 2, &yy) || *q++ != ' ' || !digits(&q, 2, &h) || !digits(&q, 2, &mi))
            continue;
        if (strncmp(q, "GMT", 3) != 0)
            continue;
        int y = yy < 70 ? 2000 + yy : 1900 + yy;
        if (mo < 1 || mo > 12 || d < 1 || d > days_in_month(y, mo) || h > 23 || mi > 59)
            return false;
        *out = nw_time_from_civil(y, mo, d, h, mi, 0);
        return true;
    }
    return false;
}

void nw_time_format(int64_t t, char buf[NW_TIME_BUFLEN])
{
    int64_t days = t >= 0 ? t / 86400 : (t - 86399) / 86400;
    int64_t rem = t - days * 86400;
    /* civil_from_days (H. Hinnant) */
    int64_t z = days + 719468;
    const int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    const unsigned doe = (unsigned)(z - era * 146097);
    const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t y = (int64_t)yoe + era * 400;
    const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    const unsigned mp = (5 * doy + 2) / 153;
    const unsigned d = doy - (153 * mp + 2) / 5 + 1;
    const unsigned m = mp < 10 ? mp + 3 : mp - 9;
    y += m <= 2;
    unsigned hh = (unsigned)(rem / 3600) % 24u, mi = (unsigned)(rem % 3600 / 60) % 60u,
             ss = (unsigned)(rem % 60) % 60u;
    snprintf(buf, NW_TIME_BUFLEN, "%04u-%02u-%02uT%02u:%02u:%02uZ", (unsigned)(y % 10000) % 10000u,
             m % 13u, d % 32u, hh, mi, ss);
}
