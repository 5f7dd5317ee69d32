/*
 * hodei-spawn: starts a worker's job processes for it, cheaply.
 *
 * Node starts a child with fork() + exec(). fork() copies the page tables of the whole Node process
 * (tens of MB), and on a virtual machine that costs milliseconds of CPU per job, in the worker and
 * again in the child as exec() throws the copy away. This small process starts jobs with
 * posix_spawn() (glibc: clone(CLONE_VM | CLONE_VFORK), nothing copied) and hands their output to
 * the worker over one pipe. The worker starts one per worker process, at its first job.
 *
 * Each job runs as Node's `spawn(file, args, {detached: true, stdio: [stdin, "pipe", "pipe"]})` would
 * run it: in a new session (so its process group can be signalled as a whole), with every signal at
 * its default and none blocked, stdin from a file (or /dev/null), stdout and stderr on their own
 * pipes, only fds 0-2 open, and a bare program name looked up in the job's own PATH.
 *
 * Protocol. Every message, both ways, is a frame: u32 length (little-endian) of what follows, then
 * one byte of kind, then a u32 job id chosen by the worker.
 *   worker → here:
 *     'S' id file\0 cwd\0 stdin-path\0 argc\0 argv[0]\0 … argv[argc-1]\0 NAME=value\0 …
 *         start a job (argc in decimal; empty cwd: ours; empty stdin-path: /dev/null)
 *     'P' id   stop reading the job's output (backpressure)      'R' id   read it again
 *     'C' id   close the job's output pipes (a leftover process holds them open)
 *     'W' id file\0 cwd\0 output\0 argc\0 argv… NAME=value\0 …
 *         start a process that is not a job (a control plane's worker agent): it stays in our
 *         process group, reads /dev/null, writes to our stderr (output "inherit") or to /dev/null
 *         (output ""), and is left running when our stdin ends; only 'T'/'F' and 'X' come back
 *   here → worker:
 *     'T' id u32 pid           started                'F' id i32 errno   could not start
 *     'O' id u8 stream bytes   output (1 stdout, 2 stderr)
 *     'E' id u8 stream         that stream reached its end
 *     'X' id i32 wait-status   the job's main process ended
 * The end of our stdin means the worker is gone (killed, crashed): then every job still running is
 * ended, as the worker would have: SIGTERM to its group, SIGKILL after the grace (argv[1], ms).
 * Processes started with 'W' are left as they are: they outlive their starter, as Node's children do.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define CHUNK 65536

struct job {
  uint32_t id;
  pid_t pid;
  int out[2]; /* read ends of stdout, stderr; -1 once at their end */
  int paused;
  int reaped;
  int agent; /* started with 'W': no pipes, own group not made, left running at our end */
};

static struct job *jobs;
static size_t njobs, capjobs;
static long grace_ms = 2000;

static void put32(unsigned char *p, uint32_t v) {
  p[0] = v & 0xff;
  p[1] = (v >> 8) & 0xff;
  p[2] = (v >> 16) & 0xff;
  p[3] = (v >> 24) & 0xff;
}

static uint32_t get32(const unsigned char *p) {
  return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static void end_all_and_exit(void);

/* Writes a whole frame: header (kind, id, extra bytes) then an optional body. */
static void send_frame(char kind, uint32_t id, const void *extra, size_t extra_len, const void *body,
                       size_t body_len) {
  unsigned char head[16];
  put32(head, (uint32_t)(1 + 4 + extra_len + body_len));
  head[4] = (unsigned char)kind;
  put32(head + 5, id);
  memcpy(head + 9, extra, extra_len);
  struct iovec iov[2] = {{head, 9 + extra_len}, {(void *)body, body_len}};
  int n = body_len ? 2 : 1;
  while (n > 0) {
    ssize_t w = writev(1, iov, n);
    if (w < 0) {
      if (errno == EINTR) continue;
      end_all_and_exit(); /* EPIPE: the worker is gone */
    }
    while (n > 0 && (size_t)w >= iov[0].iov_len) {
      w -= (ssize_t)iov[0].iov_len;
      iov[0] = iov[1];
      n--;
    }
    if (n > 0) {
      iov[0].iov_base = (char *)iov[0].iov_base + w;
      iov[0].iov_len -= (size_t)w;
    }
  }
}

static struct job *find(uint32_t id) {
  for (size_t i = 0; i < njobs; i++)
    if (jobs[i].id == id) return &jobs[i];
  return NULL;
}

static void close_stream(struct job *j, int s) {
  if (j->out[s] < 0) return;
  close(j->out[s]);
  j->out[s] = -1;
  unsigned char stream = (unsigned char)(s + 1);
  send_frame('E', j->id, &stream, 1, NULL, 0);
}

/* Forgets jobs that have ended and whose output is read. */
static void sweep(void) {
  size_t k = 0;
  for (size_t i = 0; i < njobs; i++)
    if (!(jobs[i].reaped && jobs[i].out[0] < 0 && jobs[i].out[1] < 0)) jobs[k++] = jobs[i];
  njobs = k;
}

static void fail(uint32_t id, int err) {
  unsigned char e[4];
  put32(e, (uint32_t)err);
  send_frame('F', id, e, 4, NULL, 0);
}

static void start_job(uint32_t id, char *p, char *end, int agent) {
  char *fields[4];
  for (int i = 0; i < 4; i++) {
    char *z = memchr(p, 0, (size_t)(end - p));
    if (!z) return fail(id, EINVAL);
    fields[i] = p;
    p = z + 1;
  }
  long argc = strtol(fields[3], NULL, 10);
  if (argc < 1 || argc > 100000) return fail(id, EINVAL);
  size_t nstr = 0;
  for (char *q = p; q < end; q++)
    if (*q == 0) nstr++;
  if (nstr < (size_t)argc) return fail(id, EINVAL);
  char **argv = calloc((size_t)argc + 1, sizeof(char *));
  char **envp = calloc(nstr - (size_t)argc + 1, sizeof(char *));
  if (!argv || !envp) {
    free(argv);
    free(envp);
    return fail(id, ENOMEM);
  }
  for (size_t i = 0; i < nstr; i++) {
    if (i < (size_t)argc)
      argv[i] = p;
    else
      envp[i - (size_t)argc] = p;
    p += strlen(p) + 1;
  }

  int in = open(!agent && fields[2][0] ? fields[2] : "/dev/null", O_RDONLY | O_CLOEXEC);
  int po[2] = {-1, -1}, pe[2] = {-1, -1};
  int err = 0;
  if (in < 0)
    err = errno;
  else if (agent) {
    /* Both outputs to our stderr, or to /dev/null: a write end each, as the pipes give a job. */
    po[1] = strcmp(fields[2], "inherit") == 0 ? fcntl(2, F_DUPFD_CLOEXEC, 3)
                                               : open("/dev/null", O_WRONLY | O_CLOEXEC);
    pe[1] = po[1] < 0 ? -1 : fcntl(po[1], F_DUPFD_CLOEXEC, 3);
    if (po[1] < 0 || pe[1] < 0) err = errno;
  } else if (pipe2(po, O_CLOEXEC) < 0 || pipe2(pe, O_CLOEXEC) < 0)
    err = errno;
  pid_t pid = 0;
  if (!err) {
    posix_spawn_file_actions_t fa;
    posix_spawnattr_t at;
    sigset_t none, all;
    sigemptyset(&none);
    sigfillset(&all);
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, in, 0);
    posix_spawn_file_actions_adddup2(&fa, po[1], 1);
    posix_spawn_file_actions_adddup2(&fa, pe[1], 2);
    if (fields[1][0]) posix_spawn_file_actions_addchdir_np(&fa, fields[1]);
    posix_spawnattr_init(&at);
    posix_spawnattr_setflags(&at, (agent ? 0 : POSIX_SPAWN_SETSID) | POSIX_SPAWN_SETSIGMASK |
                                      POSIX_SPAWN_SETSIGDEF);
    posix_spawnattr_setsigmask(&at, &none);
    posix_spawnattr_setsigdefault(&at, &all);
    /* A bare name is looked up in the job's PATH, as Node's spawn does (posix_spawnp reads ours). */
    const char *path = NULL;
    for (char **e = envp; *e; e++)
      if (strncmp(*e, "PATH=", 5) == 0) path = *e + 5;
    if (path)
      setenv("PATH", path, 1);
    else
      unsetenv("PATH");
    err = posix_spawnp(&pid, fields[0], &fa, &at, argv, envp);
    posix_spawn_file_actions_destroy(&fa);
    posix_spawnattr_destroy(&at);
  }
  free(argv);
  free(envp);
  if (in >= 0) close(in);
  if (po[1] >= 0) close(po[1]);
  if (pe[1] >= 0) close(pe[1]);
  if (err) {
    if (po[0] >= 0) close(po[0]);
    if (pe[0] >= 0) close(pe[0]);
    return fail(id, err);
  }
  if (njobs == capjobs) {
    size_t cap = capjobs ? capjobs * 2 : 8;
    struct job *grown = realloc(jobs, cap * sizeof *jobs);
    if (!grown) {
      kill(-pid, SIGKILL);
      close(po[0]);
      close(pe[0]);
      return fail(id, ENOMEM); /* reaped (and ignored) by the SIGCHLD loop */
    }
    jobs = grown;
    capjobs = cap;
  }
  jobs[njobs++] = (struct job){.id = id, .pid = pid, .out = {po[0], pe[0]}, .agent = agent};
  unsigned char pidb[4];
  put32(pidb, (uint32_t)pid);
  send_frame('T', id, pidb, 4, NULL, 0);
}

static void handle(unsigned char *msg, size_t len) {
  if (len < 5) return;
  uint32_t id = get32(msg + 1);
  struct job *j;
  switch (msg[0]) {
    case 'S':
    case 'W':
      start_job(id, (char *)msg + 5, (char *)msg + len, msg[0] == 'W');
      break;
    case 'P':
      if ((j = find(id))) j->paused = 1;
      break;
    case 'R':
      if ((j = find(id))) j->paused = 0;
      break;
    case 'C':
      if ((j = find(id))) {
        close_stream(j, 0);
        close_stream(j, 1);
      }
      break;
  }
}

static void reap(int sfd) {
  struct signalfd_siginfo si;
  while (read(sfd, &si, sizeof si) > 0) {
  }
  int status;
  pid_t pid;
  while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
    for (size_t i = 0; i < njobs; i++) {
      if (jobs[i].pid != pid || jobs[i].reaped) continue;
      jobs[i].reaped = 1;
      unsigned char st[4];
      put32(st, (uint32_t)status);
      send_frame('X', jobs[i].id, st, 4, NULL, 0);
    }
  }
}

static int live_group(pid_t pgid) { return kill(-pgid, 0) == 0; }

static void end_all_and_exit(void) {
  signal(SIGPIPE, SIG_IGN);
  int any = 0;
  for (size_t i = 0; i < njobs; i++)
    if (!jobs[i].agent && kill(-jobs[i].pid, SIGTERM) == 0) any = 1;
  for (long waited = 0; any && waited < grace_ms; waited += 50) {
    struct timespec ts = {0, 50 * 1000000L};
    nanosleep(&ts, NULL);
    while (waitpid(-1, NULL, WNOHANG) > 0) {
    }
    any = 0;
    for (size_t i = 0; i < njobs; i++) any |= !jobs[i].agent && live_group(jobs[i].pid);
  }
  for (size_t i = 0; i < njobs; i++)
    if (!jobs[i].agent) kill(-jobs[i].pid, SIGKILL);
  _exit(0);
}

int main(int argc, char **argv) {
  if (argc > 1) grace_ms = strtol(argv[1], NULL, 10);
  signal(SIGPIPE, SIG_IGN);
  sigset_t chld;
  sigemptyset(&chld);
  sigaddset(&chld, SIGCHLD);
  sigprocmask(SIG_BLOCK, &chld, NULL);
  int sfd = signalfd(-1, &chld, SFD_NONBLOCK | SFD_CLOEXEC);
  if (sfd < 0) {
    perror("hodei-spawn: signalfd");
    return 1;
  }
  fcntl(0, F_SETFD, FD_CLOEXEC);
  fcntl(1, F_SETFD, FD_CLOEXEC);

  size_t incap = CHUNK, inlen = 0;
  unsigned char *in = malloc(incap);
  static unsigned char buf[CHUNK];
  struct pollfd *pfds = NULL;
  struct job **owner = NULL;
  size_t pcap = 0;
  if (!in) return 1;

  for (;;) {
    size_t want = 2 + njobs * 2;
    if (want > pcap) {
      pcap = want * 2;
      pfds = realloc(pfds, pcap * sizeof *pfds);
      owner = realloc(owner, pcap * sizeof *owner);
      if (!pfds || !owner) return 1;
    }
    size_t n = 0;
    pfds[n++] = (struct pollfd){.fd = 0, .events = POLLIN};
    pfds[n++] = (struct pollfd){.fd = sfd, .events = POLLIN};
    for (size_t i = 0; i < njobs; i++) {
      if (jobs[i].paused) continue;
      for (int s = 0; s < 2; s++) {
        if (jobs[i].out[s] < 0) continue;
        owner[n] = &jobs[i];
        pfds[n++] = (struct pollfd){.fd = jobs[i].out[s], .events = POLLIN};
      }
    }
    if (poll(pfds, n, -1) < 0) {
      if (errno == EINTR) continue;
      return 1;
    }
    for (size_t k = 2; k < n; k++) {
      if (!pfds[k].revents) continue;
      struct job *j = owner[k];
      int s = j->out[0] == pfds[k].fd ? 0 : 1;
      ssize_t r = read(pfds[k].fd, buf, sizeof buf);
      if (r > 0) {
        unsigned char stream = (unsigned char)(s + 1);
        send_frame('O', j->id, &stream, 1, buf, (size_t)r);
      } else if (r == 0 || (errno != EINTR && errno != EAGAIN)) {
        close_stream(j, s);
      }
    }
    if (pfds[1].revents) reap(sfd);
    if (pfds[0].revents) {
      if (inlen == incap) {
        incap *= 2;
        unsigned char *grown = realloc(in, incap);
        if (!grown) end_all_and_exit();
        in = grown;
      }
      ssize_t r = read(0, in + inlen, incap - inlen);
      if (r == 0 || (r < 0 && errno != EINTR && errno != EAGAIN)) end_all_and_exit();
      if (r > 0) inlen += (size_t)r;
      size_t off = 0;
      while (inlen - off >= 4) {
        uint32_t len = get32(in + off);
        if (inlen - off - 4 < len) break;
        handle(in + off + 4, len);
        off += 4 + len;
      }
      memmove(in, in + off, inlen - off);
      inlen -= off;
    }
    sweep();
  }
}
