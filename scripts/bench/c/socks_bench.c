/*
 * The bench's native client (scripts/bench/compare.ts compiles it with the machine's cc): it
 * measures proxies without measuring itself, as a JavaScript client on the same two cores
 * would. Loopback only: every address it is given is 127.0.0.1.
 *
 *   socks_bench echo <socks_port|0> <echo_port> <count>
 *     <count> times, one after another: a new TCP connection (through the SOCKS5 port, CONNECT
 *     to 127.0.0.1:<echo_port>, or straight to it when the port is 0), one byte out, the echo
 *     back, close. Prints {"samplesUs":[...]} with the microseconds of each.
 *
 *   socks_bench download <socks_port|0> <http_port> <path> <sessions> <bytes> <barrier 0|1>
 *     <sessions> threads, each fetching GET <path> (whose body is patternBytes(<bytes>), see
 *     pattern.ts) and comparing it byte for byte. With barrier 1 every session first waits
 *     until all are connected (SOCKS CONNECT answered): all held open at once. Prints
 *     {"ok":n,"failed":n,"seconds":s,"connectedSeconds":s}.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

static double now_seconds(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec + ts.tv_nsec / 1e9;
}

static int write_all(int fd, const void *buf, size_t len) {
  const uint8_t *p = buf;
  while (len > 0) {
    ssize_t n = write(fd, p, len);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return -1;
    p += n;
    len -= (size_t)n;
  }
  return 0;
}

static int read_exact(int fd, void *buf, size_t len) {
  uint8_t *p = buf;
  while (len > 0) {
    ssize_t n = read(fd, p, len);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return -1;
    p += n;
    len -= (size_t)n;
  }
  return 0;
}

static int connect_local(int port) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return -1;
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  struct timeval timeout = {.tv_sec = 120, .tv_usec = 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
  struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(fd, (struct sockaddr *)&addr, sizeof addr) != 0) {
    close(fd);
    return -1;
  }
  return fd;
}

/* A connection to 127.0.0.1:<target_port>, through the SOCKS5 port unless it is 0. */
static int open_session(int socks_port, int target_port) {
  if (socks_port == 0) return connect_local(target_port);
  int fd = connect_local(socks_port);
  if (fd < 0) return -1;
  uint8_t greeting[] = {5, 1, 0};
  uint8_t choice[2];
  uint8_t request[] = {5, 1, 0, 1, 127, 0, 0, 1, (uint8_t)(target_port >> 8),
                       (uint8_t)(target_port & 0xff)};
  uint8_t head[4];
  if (write_all(fd, greeting, sizeof greeting) || read_exact(fd, choice, 2) || choice[1] != 0 ||
      write_all(fd, request, sizeof request) || read_exact(fd, head, 4) || head[1] != 0) {
    close(fd);
    return -1;
  }
  size_t rest = head[3] == 1 ? 4 + 2 : head[3] == 4 ? 16 + 2 : 0;
  if (head[3] == 3) {
    uint8_t length;
    if (read_exact(fd, &length, 1)) {
      close(fd);
      return -1;
    }
    rest = (size_t)length + 2;
  }
  uint8_t bound[260];
  if (rest == 0 || read_exact(fd, bound, rest)) {
    close(fd);
    return -1;
  }
  return fd;
}

static int compare_doubles(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

static int echo_mode(int socks_port, int echo_port, int count) {
  double *samples = calloc((size_t)count, sizeof *samples);
  if (!samples) return 1;
  for (int i = 0; i < count; i++) {
    double started = now_seconds();
    int fd = open_session(socks_port, echo_port);
    uint8_t byte = (uint8_t)i, back = 0;
    if (fd < 0 || write_all(fd, &byte, 1) || read_exact(fd, &back, 1) || back != byte) {
      fprintf(stderr, "echo %d failed\n", i);
      if (fd >= 0) close(fd);
      free(samples);
      return 1;
    }
    close(fd);
    samples[i] = (now_seconds() - started) * 1e6;
  }
  printf("{\"samplesUs\":[");
  for (int i = 0; i < count; i++) printf("%s%.1f", i ? "," : "", samples[i]);
  printf("]}\n");
  (void)compare_doubles;
  free(samples);
  return 0;
}

/* patternBytes(length) of pattern.ts: xorshift32 seeded by the length. */
static uint8_t *pattern_bytes(size_t length) {
  uint8_t *out = malloc(length ? length : 1);
  if (!out) return NULL;
  uint32_t state = (uint32_t)length ^ 0x9e3779b9u;
  if (state == 0) state = 1;
  for (size_t i = 0; i < length; i++) {
    state ^= state << 13;
    state ^= state >> 17;
    state ^= state << 5;
    out[i] = (uint8_t)(state & 0xff);
  }
  return out;
}

struct download_job {
  int socks_port, http_port, barrier;
  const char *path;
  size_t bytes;
  const uint8_t *expected;
  pthread_barrier_t *all_connected;
  int ok;
};

static void *download_one(void *arg) {
  struct download_job *job = arg;
  int fd = open_session(job->socks_port, job->http_port);
  if (job->barrier) pthread_barrier_wait(job->all_connected);
  if (fd < 0) return NULL;
  char request[512];
  int length = snprintf(request, sizeof request,
                        "GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n",
                        job->path);
  if (write_all(fd, request, (size_t)length)) {
    close(fd);
    return NULL;
  }
  /* The head, up to the blank line, then the body compared as it arrives. */
  char head[8192];
  size_t used = 0;
  char *end = NULL;
  while (!end) {
    if (used == sizeof head) break;
    ssize_t n = read(fd, head + used, sizeof head - used);
    if (n <= 0) break;
    used += (size_t)n;
    end = memmem(head, used, "\r\n\r\n", 4);
  }
  if (!end || strncmp(head, "HTTP/1.1 200", 12) != 0) {
    close(fd);
    return NULL;
  }
  size_t body_start = (size_t)(end - head) + 4;
  size_t received = used - body_start;
  int same = received <= job->bytes &&
             memcmp(head + body_start, job->expected, received) == 0;
  /* On the heap: a 256 KiB thread-local array does not fit the 128 KiB thread stacks (glibc
     puts static TLS there and pthread_create fails with EINVAL). */
  enum { BUFFER_BYTES = 64 * 1024 };
  uint8_t *buffer = malloc(BUFFER_BYTES);
  if (!buffer) same = 0;
  while (same) {
    ssize_t n = read(fd, buffer, BUFFER_BYTES);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    if (received + (size_t)n > job->bytes ||
        memcmp(buffer, job->expected + received, (size_t)n) != 0) {
      same = 0;
      break;
    }
    received += (size_t)n;
  }
  free(buffer);
  close(fd);
  job->ok = same && received == job->bytes;
  return NULL;
}

static int download_mode(int socks_port, int http_port, const char *path, int sessions,
                         size_t bytes, int barrier) {
  uint8_t *expected = pattern_bytes(bytes);
  struct download_job *jobs = calloc((size_t)sessions, sizeof *jobs);
  pthread_t *threads = calloc((size_t)sessions, sizeof *threads);
  if (!expected || !jobs || !threads) return 1;
  pthread_barrier_t all_connected;
  pthread_barrier_init(&all_connected, NULL, (unsigned)sessions);
  pthread_attr_t attr;
  pthread_attr_init(&attr);
  pthread_attr_setstacksize(&attr, 128 * 1024);
  double started = now_seconds();
  for (int i = 0; i < sessions; i++) {
    jobs[i] = (struct download_job){socks_port, http_port, barrier, path, bytes, expected,
                                    &all_connected, 0};
    if (pthread_create(&threads[i], &attr, download_one, &jobs[i]) != 0) {
      fprintf(stderr, "cannot start thread %d\n", i);
      return 1;
    }
  }
  int ok = 0;
  for (int i = 0; i < sessions; i++) {
    pthread_join(threads[i], NULL);
    ok += jobs[i].ok;
  }
  double seconds = now_seconds() - started;
  printf("{\"ok\":%d,\"failed\":%d,\"seconds\":%.4f}\n", ok, sessions - ok, seconds);
  free(expected);
  free(jobs);
  free(threads);
  return 0;
}

int main(int argc, char **argv) {
  if (argc == 5 && strcmp(argv[1], "echo") == 0) {
    return echo_mode(atoi(argv[2]), atoi(argv[3]), atoi(argv[4]));
  }
  if (argc == 8 && strcmp(argv[1], "download") == 0) {
    return download_mode(atoi(argv[2]), atoi(argv[3]), argv[4], atoi(argv[5]),
                         (size_t)strtoull(argv[6], NULL, 10), atoi(argv[7]));
  }
  fprintf(stderr,
          "usage: socks_bench echo <socks_port|0> <echo_port> <count>\n"
          "       socks_bench download <socks_port|0> <http_port> <path> <sessions> <bytes> "
          "<barrier 0|1>\n");
  return 2;
}
