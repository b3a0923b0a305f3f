package org.zero4j.offload.swap;

/** A child process that creates a swap file in {@code args[0]}, prints its path, then waits. */
public final class SwapFileHolder {
  private SwapFileHolder() {}

  public static void main(String[] args) throws InterruptedException {
    SwapDirectory d = SwapDirectory.open("nvme_path", args[0], 4096, FreeSpaceProbe.FILESYSTEM);
    SwapFile f = SwapFile.create(d, "held", 0, 4096);
    System.out.println(f.path());
    System.out.flush();
    Thread.sleep(60_000);
  }
}
