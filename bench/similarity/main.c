/* simbench: the similarity engine's quality and cost benchmark (run.sh drives it). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int bench_quality(const char *train, const char *test, const char *out_path);
int bench_cost(const char *dsn, const char *train, const char *test, const char *out_path, long stored_small,
               long stored_large, int fresh);

static int usage(void)
{
    fprintf(stderr, "usage: simbench quality TRAIN.arff TEST.arff OUT.json\n"
                    "       simbench cost DSN TRAIN.arff TEST.arff OUT.json [SMALL LARGE FRESH]\n");
    return 2;
}

int main(int argc, char **argv)
{
    if (argc >= 5 && strcmp(argv[1], "quality") == 0)
        return bench_quality(argv[2], argv[3], argv[4]);
    if (argc >= 6 && strcmp(argv[1], "cost") == 0)
        return bench_cost(argv[2], argv[3], argv[4], argv[5], argc > 6 ? atol(argv[6]) : 10000,
                          argc > 7 ? atol(argv[7]) : 1000000, argc > 8 ? atoi(argv[8]) : 500);
    return usage();
}
