package org.zero4j.zero.comm;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.ServerSocket;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.function.Function;

/**
 * Runs N ranks as threads of this JVM, each with its own Gloo group over loopback. Tests and
 * benchmarks use it to exercise real collectives without starting processes; libtorch's autograd
 * and Gloo are both safe to use from several threads with separate graphs and groups.
 */
public final class LocalRanks {

  private LocalRanks() {}

  /**
   * Runs {@code body} once per rank, each in its own thread with its own connected {@link
   * Collectives}, and returns the results in rank order. The first failure is rethrown after all
   * ranks have ended or {@code limit} has passed.
   */
  public static <T> List<T> run(int worldSize, Duration limit, Function<Collectives, T> body) {
    int port = freePort();
    ExecutorService pool = Executors.newFixedThreadPool(worldSize);
    try {
      List<Future<T>> futures = new ArrayList<>();
      for (int r = 0; r < worldSize; r++) {
        CommSpec spec = new CommSpec(r, worldSize, "127.0.0.1", port, limit);
        futures.add(
            pool.submit(
                () -> {
                  try (Collectives c = Collectives.connect(spec)) {
                    return body.apply(c);
                  }
                }));
      }
      List<T> results = new ArrayList<>();
      RuntimeException failure = null;
      long deadline = System.nanoTime() + limit.toNanos() * 2;
      for (Future<T> f : futures) {
        try {
          results.add(f.get(Math.max(1, deadline - System.nanoTime()), TimeUnit.NANOSECONDS));
        } catch (ExecutionException e) {
          if (failure == null) {
            failure =
                e.getCause() instanceof RuntimeException re
                    ? re
                    : new IllegalStateException(e.getCause());
          }
          results.add(null);
        } catch (TimeoutException e) {
          throw new IllegalStateException("local ranks did not finish within " + limit, e);
        } catch (InterruptedException e) {
          Thread.currentThread().interrupt();
          throw new IllegalStateException("interrupted while waiting for local ranks", e);
        }
      }
      if (failure != null) {
        throw failure;
      }
      return results;
    } finally {
      pool.shutdownNow();
    }
  }

  /** A TCP port that was free a moment ago. */
  public static int freePort() {
    try (ServerSocket s = new ServerSocket(0)) {
      s.setReuseAddress(true);
      return s.getLocalPort();
    } catch (IOException e) {
      throw new UncheckedIOException("no free TCP port on this machine", e);
    }
  }
}
