package org.zero4j.engine.launch;

import java.io.PrintStream;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

/** One started rank: its process, its output pumps, and how to stop it with its descendants. */
final class RankProcess {

  final int rank;
  final Process process;
  private final OutputPump stdout;
  private final OutputPump stderr;
  private final List<ProcessHandle> descendants = new ArrayList<>();

  RankProcess(int rank, Process process, PrintStream out, PrintStream err) {
    this.rank = rank;
    this.process = process;
    String prefix = "[rank " + rank + "] ";
    this.stdout =
        new OutputPump(process.getInputStream(), out, prefix, "zero4j-rank" + rank + "-out");
    this.stderr =
        new OutputPump(process.getErrorStream(), err, prefix, "zero4j-rank" + rank + "-err");
  }

  long pid() {
    return process.pid();
  }

  /**
   * Asks the rank and its descendants to stop (SIGTERM).
   *
   * <p>Note [descendants first]: the descendant list is taken before the rank is signalled; once
   * the rank is gone its children are re-parented and no longer show up as its descendants.
   */
  synchronized void terminate() {
    rememberDescendants();
    process.destroy();
    descendants.forEach(ProcessHandle::destroy);
  }

  /** Kills the rank and every descendant seen so far or now (SIGKILL). */
  synchronized void kill() {
    rememberDescendants();
    process.destroyForcibly();
    descendants.forEach(ProcessHandle::destroyForcibly);
  }

  /** True while the rank or any descendant seen so far is alive. */
  synchronized boolean anyAlive() {
    return process.isAlive() || descendants.stream().anyMatch(ProcessHandle::isAlive);
  }

  /**
   * Waits until the rank and the descendants seen so far are gone, at most until {@code deadline}.
   */
  boolean awaitGone(long deadlineNanos) throws InterruptedException {
    while (anyAlive()) {
      long left = deadlineNanos - System.nanoTime();
      if (left <= 0) {
        return false;
      }
      Thread.sleep(Math.max(1, Math.min(20, TimeUnit.NANOSECONDS.toMillis(left))));
    }
    return true;
  }

  /** Waits for both output streams to end, at most {@code millis} each. */
  void drain(long millis) throws InterruptedException {
    stdout.join(millis);
    stderr.join(millis);
  }

  private void rememberDescendants() {
    process
        .descendants()
        .forEach(
            h -> {
              if (!descendants.contains(h)) {
                descendants.add(h);
              }
            });
  }
}
