/*
 * Raw MPI_Allreduce timing: the peer column of `tessera bench collectives`.
 *
 * Run under mpirun. For each size it does one warm-up call, then timed trials of `iterations`
 * back-to-back MPI_Allreduce(MPI_IN_PLACE, float, MPI_SUM) calls, each trial started after a barrier;
 * a trial's time per call is the slowest rank's (MPI_MAX over ranks), and the reported figure is the
 * median over trials. `tessera bench collectives` times its own backends the same way (CollectiveTiming).
 *
 * Usage: mpi_allreduce [--trials N] [--nonblocking] BYTES...
 *   --trials N     timed trials per size (default 5)
 *   --nonblocking  use MPI_Iallreduce and poll MPI_Test (for comparison with the blocking call)
 * Output (rank 0): one line per size: `BYTES SECONDS_PER_CALL ITERATIONS`.
 */
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The same schedule as Tessera's benchmark: about 64 MiB of traffic per trial, 1 to 1000 calls. */
static int iterations_for(long bytes) {
    long n = (64L << 20) / (bytes > 0 ? bytes : 1);
    return (int)(n < 1 ? 1 : (n > 1000 ? 1000 : n));
}

static int compare(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static void allreduce(float *buffer, int count, int nonblocking) {
    if (!nonblocking) {
        MPI_Allreduce(MPI_IN_PLACE, buffer, count, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD);
        return;
    }
    MPI_Request request;
    int done = 0;
    MPI_Iallreduce(MPI_IN_PLACE, buffer, count, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD, &request);
    while (!done) MPI_Test(&request, &done, MPI_STATUS_IGNORE);
}

int main(int argc, char **argv) {
    int provided, rank, nonblocking = 0, requested_trials = 5;
    MPI_Init_thread(&argc, &argv, MPI_THREAD_MULTIPLE, &provided);
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    for (int a = 1; a < argc; a++) {
        if (strcmp(argv[a], "--nonblocking") == 0) { nonblocking = 1; continue; }
        if (strcmp(argv[a], "--trials") == 0 && a + 1 < argc) { requested_trials = atoi(argv[++a]); continue; }
        long bytes = atol(argv[a]);
        int count = (int)(bytes / sizeof(float));
        int iterations = iterations_for(bytes), trials = requested_trials;
        float *buffer = malloc((size_t)count * sizeof(float) + 64);
        for (int i = 0; i < count; i++) buffer[i] = (float)((rank + i) % 7) * 0.25f;
        allreduce(buffer, count, nonblocking);
        double times[16];
        if (trials < 1 || trials > 16) trials = trials < 1 ? 1 : 16;
        for (int t = 0; t < trials; t++) {
            MPI_Barrier(MPI_COMM_WORLD);
            double start = MPI_Wtime();
            for (int i = 0; i < iterations; i++) allreduce(buffer, count, nonblocking);
            double mine = (MPI_Wtime() - start) / iterations, slowest;
            MPI_Allreduce(&mine, &slowest, 1, MPI_DOUBLE, MPI_MAX, MPI_COMM_WORLD);
            times[t] = slowest;
        }
        qsort(times, trials, sizeof(double), compare);
        if (rank == 0) printf("%ld %.9f %d\n", bytes, times[trials / 2], iterations);
        free(buffer);
    }
    MPI_Finalize();
    return 0;
}
