package org.zero4j.engine.launch;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch;
import org.zero4j.zero.comm.CollectiveException;
import org.zero4j.zero.comm.Collectives;
import org.zero4j.zero.comm.CommSpec;

/**
 * A rank main for {@link PeerDeathTest}: both ranks join a Gloo group and all-reduce once; then
 * rank 1 halts abruptly (as a killed process would, sockets closed by the OS) and rank 0 records
 * how its next all-reduce fails.
 */
public final class PeerDeathProbe {

  private PeerDeathProbe() {}

  public static void main(String[] args) throws Exception {
    Path dir = Path.of(args[0]);
    Duration timeout = Duration.ofSeconds(Long.parseLong(args[1]));
    DistEnv env = DistEnv.fromSystem();
    Collectives comm =
        Collectives.connect(
            new CommSpec(env.rank(), env.worldSize(), env.masterAddr(), env.masterPort(), timeout));
    Tensor t = torch.ones(1024);
    comm.allReduce(t).await();
    if (env.rank() == 1) {
      Runtime.getRuntime().halt(0); // exit code 0 so that the launcher keeps rank 0 running
    }
    Thread.sleep(500);
    long start = System.nanoTime();
    try {
      comm.allReduce(t).await();
      Files.writeString(dir.resolve("result"), "no error");
    } catch (CollectiveException e) {
      long millis = (System.nanoTime() - start) / 1_000_000;
      Files.writeString(dir.resolve("result"), millis + "\n" + e.getMessage());
    }
    System.exit(0);
  }
}
