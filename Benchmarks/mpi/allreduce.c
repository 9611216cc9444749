// Time of one in-place MPI_Allreduce (sum) of N floats, as ctr-train's dense average does.
//   mpicc -O2 -o allreduce allreduce.c
//   mpirun -np 2 --mca btl tcp,self ./allreduce 26000000 260000000
// CHUNK: floats per call (default 2^30, ctr-train's limit; ctr-train's dense merge calls it
// on 2^18 floats at a time: CHUNK=262144). Each size (in bytes): one warm-up, then REPS (5) timed calls between barriers; rank 0
// prints the best and the median seconds, and the bus bandwidth 2(N-1)/N * bytes / best.
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>

static int cmp(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

int main(int argc, char **argv) {
    MPI_Init(&argc, &argv);
    int rank, size;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    const int reps = getenv("REPS") ? atoi(getenv("REPS")) : 5;
    const long chunk = getenv("CHUNK") ? atol(getenv("CHUNK")) : (1L << 30);
    for (int a = 1; a < argc; a++) {
        long bytes = atol(argv[a]);
        long n = bytes / 4;
        float *v = malloc(n * sizeof(float));
        for (long i = 0; i < n; i++) v[i] = (float)(i % 1000) * 0.001f + rank;
        double t[64];
        for (int r = -1; r < reps && r < 64; r++) {
            MPI_Barrier(MPI_COMM_WORLD);
            double t0 = MPI_Wtime();
            for (long done = 0; done < n;) {  // chunks of at most CHUNK elements
                long c = n - done < chunk ? n - done : chunk;
                MPI_Allreduce(MPI_IN_PLACE, v + done, (int)c, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD);
                done += c;
            }
            if (r >= 0) t[r] = MPI_Wtime() - t0;
        }
        qsort(t, reps, sizeof(double), cmp);
        if (rank == 0)
            printf("allreduce %ld bytes (chunks of %ld floats) on %d ranks: best %.3f s, median %.3f s, %.2f GB/s bus bandwidth\n", bytes, chunk, size,
                   t[0], t[reps / 2], 2.0 * (size - 1) / size * bytes / t[0] / 1e9);
        free(v);
    }
    MPI_Finalize();
    return 0;
}
