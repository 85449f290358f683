/* nw_json_compact gives json_dumps(v, JSON_COMPACT)'s bytes: on made-up
 * values with every escape, and on the ninjs of every format fixture. */
#include <dirent.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "json_out.h"

#define FIX NW_FIXTURES "/formats"

static void same_as_jansson(const json_t *v)
{
    char *want = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
    size_t len = 0;
    char *got = nw_json_compact(v, &len);
    assert_non_null(want);
    assert_non_null(got);
    if (strlen(want) != len || memcmp(want, got, len)) {
        fprintf(stderr, "want %s\n got %s\n", want, got);
        fail();
    }
    free(want);
    free(got);
}

static void test_escapes_and_scalars(void **state)
{
    (void)state;
    char every[128];
    for (int c = 1; c < 128; c++)
        every[c - 1] = (char)c;
    every[127] = '\0';
    json_t *o = json_object();
    json_object_set_new(o, "ascii", json_string(every));
    json_object_set_new(o, "nul inside", json_stringn("a\0b", 3));
    json_object_set_new(o, "utf8", json_string("Zürich – 東京 \xF0\x9F\x93\xB0 \xE2\x80\xA8"));
    json_object_set_new(o, "", json_string(""));
    json_object_set_new(o, "quote\"key\\\n", json_string("</script>"));
    json_object_set_new(o, "ints",
                        json_pack("[I,I,I,i]", (json_int_t)-9223372036854775807LL - 1,
                                  (json_int_t)9223372036854775807LL, (json_int_t)0, -1));
    json_object_set_new(o, "reals", json_pack("[f,f,f,f]", 0.1, -2.5e300, 1.0, 3.0e-7));
    json_object_set_new(o, "consts", json_pack("[b,b,n]", 1, 0));
    json_object_set_new(o, "empty", json_pack("[{},[],{s:[]}]", "x"));
    json_object_set_new(o, "deep", json_pack("{s:{s:{s:[[[{s:s}]]]}}}", "a", "b", "c", "d", "e"));
    same_as_jansson(o);
    json_t *arr = json_object_get(o, "ints");
    same_as_jansson(arr);                        /* not only objects */
    same_as_jansson(json_object_get(o, "utf8")); /* a bare string */
    same_as_jansson(json_array_get(arr, 0));     /* a bare integer */
    json_decref(o);
    assert_null(nw_json_compact(NULL, NULL));
}

/* Every *.expected.json under the format fixtures: parsed items and their
 * ninjs, with real bodies. */
static void test_format_fixtures(void **state)
{
    (void)state;
    DIR *top = opendir(FIX);
    assert_non_null(top);
    int files = 0;
    struct dirent *d;
    while ((d = readdir(top))) {
        if (d->d_name[0] == '.')
            continue;
        char dir[1024];
        snprintf(dir, sizeof dir, "%s/%s", FIX, d->d_name);
        DIR *sub = opendir(dir);
        if (!sub)
            continue;
        struct dirent *f;
        while ((f = readdir(sub))) {
            size_t l = strlen(f->d_name);
            if (l < 14 || strcmp(f->d_name + l - 14, ".expected.json"))
                continue;
            char path[2048];
            snprintf(path, sizeof path, "%s/%s", dir, f->d_name);
            json_error_t je;
            json_t *v = json_load_file(path, 0, &je);
            assert_non_null(v);
            same_as_jansson(v);
            json_decref(v);
            files++;
        }
        closedir(sub);
    }
    closedir(top);
    assert_true(files >= 20);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_escapes_and_scalars),
        cmocka_unit_test(test_format_fixtures),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
