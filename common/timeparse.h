/*
 * timeparse: every timestamp spelling the agencies use, to epoch seconds UTC.
 *
 * Accepted (wire-formats.md section 4), each with any offset spelling
 * (`Z`, `+0000`, `+00:00`, `-05:00`, `+05`) and optional fractional seconds:
 *   2018-02-26T21:20:36Z            RFC 3339 (AP JSON, AP G2, AFP API)
 *   2017-01-31T03:47:29.000Z        RFC 3339 with milliseconds (Reuters)
 *   2016-10-21T16:25:32-05:00       RFC 3339 with an offset (NewsML-G2)
 *   20140829T134951+0000            ISO 8601 basic (AFP NewsML 1.2)
 *   20240710T125902Z                ISO 8601 basic (AFP 2024, NITF date.issue@norm)
 *   2014-07-16 15:53:10 GMT+00:00   Reuters G2 <dateline> (a time, not a place)
 *   AP-WF-02-20-16 0337GMT          ANPA ETX trailer (nw_time_parse_anpa)
 * A string that still does not parse is bad data: the caller dead-letters it.
 */
#ifndef NW_TIMEPARSE_H
#define NW_TIMEPARSE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Length of "YYYY-MM-DDTHH:MM:SSZ" plus its NUL. */
#define NW_TIME_BUFLEN 21

/* Parse one of the forms above (surrounding whitespace allowed) into seconds
 * since the epoch, UTC. Returns false on anything else, including out-of-range
 * fields (month 13, second 61, offset beyond +-18:00). */
bool nw_time_parse(const char *s, int64_t *out);

/* Parse the date part of an ANPA ETX trailer: finds `MM-DD-YY HHMM` followed by
 * `GMT` anywhere in s (e.g. "AP-WF-02-20-16 0337GMT"). Years 00-69 are 20xx. */
bool nw_time_parse_anpa(const char *s, int64_t *out);

/* Format t as "YYYY-MM-DDTHH:MM:SSZ" into buf (NW_TIME_BUFLEN bytes). */
void nw_time_format(int64_t t, char buf[NW_TIME_BUFLEN]);

/* Seconds since the epoch for a UTC civil date and time (no range checks). */
int64_t nw_time_from_civil(int y, int mon, int d, int h, int mi, int s);

#endif
