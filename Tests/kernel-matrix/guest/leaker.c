/* memleak's check in the guest: 10 x malloc(4096) never freed from leak_here, 100 freed
   ones from churn, then a pause so the leaks outlive memleak's 500 ms minimum age. */
#include <stdlib.h>
#include <string.h>
#include <time.h>
__attribute__((noinline)) void *leak_here(size_t n) { void *p = malloc(n); memset(p, 1, n); return p; }
__attribute__((noinline)) void churn(void) { for (int i = 0; i < 100; i++) { void *p = malloc(512); memset(p, 2, 512); free(p); } }
int main(void) {
    for (int i = 0; i < 10; i++) leak_here(4096);
    churn();
    struct timespec pause = {1, 500000000};
    nanosleep(&pause, 0);
    return 0;
}
