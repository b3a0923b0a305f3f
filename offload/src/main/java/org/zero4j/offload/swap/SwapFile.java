package org.zero4j.offload.swap;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.InetAddress;
import java.net.UnknownHostException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.channels.FileLock;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicLong;

/**
 * One rank's swap file under {@code nvme_path}: created at initialize, locked for its whole life
 * (see Note [stale swap files] in {@link SwapDirectory}), and deleted by {@link #close()} or, if
 * the program exits normally without closing it, by a shutdown hook.
 *
 * <p>The name is {@code zero4j-<tag>-<host>-p<pid>-r<rank>-<n>.swap}: host and pid keep jobs that
 * share a directory apart, rank keeps the ranks of one job apart, and {@code n} (a per-process
 * counter) keeps apart several engines of one process, as tests and thread-rank runs make.
 *
 * <p>Reads and writes are positional ({@code pread}/{@code pwrite}); the file is never mapped, so
 * its pages never count towards this process's resident set. Where the filesystem takes {@code
 * O_DIRECT}, the file has a second, direct descriptor, through which {@link AsyncSwapper} moves the
 * block-aligned part of each request past the page cache (see {@link SwapLayout}).
 *
 * <p>Note [mixing direct and buffered I/O]: one file is read and written through both descriptors,
 * never both on the same bytes at once (a block is direct in a request only when the request covers
 * all of it). Linux keeps the two coherent: a direct read first writes back dirty cached pages of
 * its range, and a direct write drops cached pages of its range.
 */
public final class SwapFile implements AutoCloseable {

  /** Matches every swap file name this class makes. */
  static final String GLOB = "zero4j-*.swap";

  private static final AtomicLong SEQUENCE = new AtomicLong();
  private static final Set<Path> OPEN = ConcurrentHashMap.newKeySet();

  static {
    Runtime.getRuntime()
        .addShutdownHook(
            new Thread(
                () -> {
                  for (Path p : OPEN) {
                    try {
                      Files.deleteIfExists(p);
                    } catch (IOException ignored) {
                      // exiting: nothing left to report to; the next run sweeps it as stale
                    }
                  }
                },
                "zero4j-swap-file-cleanup"));
  }

  private final Path path;
  private final FileChannel channel;
  private final FileChannel direct;
  private final int block;
  private final FileLock lock;
  private final long size;
  private final boolean owned;
  private boolean closed;

  private SwapFile(
      Path path,
      FileChannel channel,
      FileChannel direct,
      int block,
      FileLock lock,
      long size,
      boolean owned) {
    this.path = path;
    this.channel = channel;
    this.direct = direct;
    this.block = direct == null ? 0 : block;
    this.lock = lock;
    this.size = size;
    this.owned = owned;
  }

  /**
   * An existing file or device opened for swapping without taking ownership: it is neither locked
   * nor deleted. Tests use it to swap against {@code /dev/full}, which fails every write with
   * ENOSPC (and refuses {@code O_DIRECT}, so it is swapped through buffered I/O).
   */
  static SwapFile borrow(Path path, long size) throws IOException {
    FileChannel ch = FileChannel.open(path, StandardOpenOption.READ, StandardOpenOption.WRITE);
    FileChannel direct = null;
    int block = 0;
    try {
      block = (int) Files.getFileStore(path).getBlockSize();
      direct = DirectIo.open(path);
    } catch (IOException | UnsupportedOperationException refused) {
      // not locked, so nothing to lose by trying on the file itself; buffered I/O it is
    }
    return new SwapFile(path, ch, direct, block, null, size, false);
  }

  /**
   * Creates, locks and sizes a new swap file of {@code size} bytes in {@code dir}. The file is
   * sparse until written; its owner writes it at initialize (the optimizer writes every byte unless
   * {@code fast_init}), so that disk space is taken up front rather than found missing mid-run.
   */
  public static SwapFile create(SwapDirectory dir, String tag, int rank, long size) {
    return create(dir, tag, rank, size, true);
  }

  /**
   * As {@link #create(SwapDirectory, String, int, long)}; with {@code tryDirect} false the file is
   * read and written through the page cache even where the filesystem takes {@code O_DIRECT} (the
   * offload bench compares the two).
   */
  public static SwapFile create(
      SwapDirectory dir, String tag, int rank, long size, boolean tryDirect) {
    if (size < 0) {
      throw new IllegalArgumentException("swap file size must be >= 0, got " + size);
    }
    String name =
        "zero4j-%s-%s-p%d-r%d-%d.swap"
            .formatted(
                tag, host(), ProcessHandle.current().pid(), rank, SEQUENCE.incrementAndGet());
    Path path = dir.path().resolve(name);
    // Note [locked before visible]: the file is made under a name the sweep ignores, locked, and
    // only then renamed (the lock belongs to the inode and survives it), so no sweep by another
    // process can see it unlocked. It is registered before it exists, so that a sweep by another
    // rank of this JVM never opens it (see isOpenHere).
    Path creating = dir.path().resolve("." + name + ".creating");
    int block = tryDirect ? DirectIo.block(dir.path()) : 0;
    FileChannel ch = null;
    FileChannel direct = null;
    OPEN.add(path);
    try {
      ch =
          FileChannel.open(
              creating,
              StandardOpenOption.CREATE_NEW,
              StandardOpenOption.READ,
              StandardOpenOption.WRITE);
      FileLock lock = ch.tryLock();
      if (lock == null) {
        throw new IllegalStateException("swap file " + creating + " was locked by another process");
      }
      Files.move(creating, path, StandardCopyOption.ATOMIC_MOVE);
      if (size > 0) {
        ch.write(ByteBuffer.allocate(1), size - 1); // sets the length; the rest stays a hole
      }
      if (block > 0) {
        direct = DirectIo.open(path); // the directory's probe took it (Note [probe before...])
      }
      return new SwapFile(path, ch, direct, block, lock, size, true);
    } catch (IOException e) {
      discard(creating);
      discard(path, direct, ch);
      throw new UncheckedIOException(
          "cannot create swap file " + path + " of " + size + " bytes: " + e.getMessage(), e);
    } catch (RuntimeException e) {
      discard(creating);
      discard(path, direct, ch);
      throw e;
    }
  }

  private static void discard(Path path, FileChannel... channels) {
    try {
      for (FileChannel ch : channels) {
        if (ch != null) {
          ch.close();
        }
      }
      Files.deleteIfExists(path);
    } catch (IOException suppressed) {
      // the creation error is the one to report
    } finally {
      OPEN.remove(path);
    }
  }

  static boolean isOpenHere(Path p) {
    return OPEN.contains(p.toAbsolutePath());
  }

  private static String host() {
    try {
      return InetAddress.getLocalHost().getHostName().replaceAll("[^A-Za-z0-9.-]", "_");
    } catch (UnknownHostException e) {
      return "localhost";
    }
  }

  /** The file's path. */
  public Path path() {
    return path;
  }

  /** Bytes in the file. */
  public long size() {
    return size;
  }

  FileChannel channel() {
    return channel;
  }

  /** The {@code O_DIRECT} descriptor, or null when the file is swapped through the page cache. */
  FileChannel directChannel() {
    return direct;
  }

  /** The alignment that {@link #directChannel()} needs; 0 when there is none. */
  int block() {
    return block;
  }

  /**
   * Whether block-aligned reads and writes of this file bypass the page cache ({@code O_DIRECT}).
   * False where the filesystem refuses it; swapping then goes through the page cache (and the
   * refusal was logged once for the directory).
   */
  public boolean direct() {
    return direct != null;
  }

  /**
   * Flushes written data to the device ({@code fdatasync}), so that a full or failing disk reports
   * here rather than at some later writeback.
   */
  public void flush() {
    try {
      channel.force(false);
    } catch (IOException e) {
      throw new SwapFailure("flushing swap file " + path + " failed: " + e.getMessage(), e);
    }
  }

  /** Closes and deletes the file; idempotent. */
  @Override
  public synchronized void close() {
    if (closed) {
      return;
    }
    closed = true;
    try {
      if (direct != null) {
        direct.close(); // drops the lock too (a POSIX lock goes with any descriptor's close)
      }
      if (!owned) {
        channel.close();
        return;
      }
      lock.release();
      channel.close();
      Files.deleteIfExists(path);
    } catch (IOException e) {
      throw new UncheckedIOException("cannot delete swap file " + path, e);
    } finally {
      OPEN.remove(path);
    }
  }
}
