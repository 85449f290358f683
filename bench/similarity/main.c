/* simbench: the similarity engine's quality and cost benchmark (run.sh drives it). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int bench_quality(const char *train, const char *test, const char *out_path);

static int usage(void)
{
    fprintf(stderr, "usage: simbench quality TRAIN.arff TEST.arff OUT.json\n"
                    );
    return 2;
}

int main(int argc, char **argv)
{
    if (argc >= 5 && strcmp(argv[1], "quality") == 0)
        return bench_quality(argv[2], argv[3], argv[4]);
    return usage();
}
