package org.zero4j.engine.launch;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/** Reads a task's placement from the variables {@code srun} exports. */
final class SlurmEnv {

  /** One host of a hostlist item such as {@code node[07-12,20]x}: prefix, first index, suffix. */
  private static final Pattern RANGED_HOST =
      Pattern.compile("([^\\[\\],]*)\\[(\\d+)[^\\[\\]]*\\]([^\\[\\],]*)");

  /** One item of SLURM_TASKS_PER_NODE: a count, optionally repeated, as in {@code 2(x3)}. */
  private static final Pattern TASKS_ITEM = Pattern.compile("(\\d+)(?:\\(x(\\d+)\\))?");

  private SlurmEnv() {}

  static DistEnv read(Map<String, String> env) {
    int rank = DistEnv.requiredInt(env, "SLURM_PROCID");
    String worldKey = env.containsKey("SLURM_NTASKS") ? "SLURM_NTASKS" : "SLURM_NPROCS";
    int world = DistEnv.requiredInt(env, worldKey);
    int localRank = DistEnv.requiredInt(env, "SLURM_LOCALID");
    String localWorldKey;
    int localWorld;
    if (env.containsKey("SLURM_NTASKS_PER_NODE")) {
      localWorldKey = "SLURM_NTASKS_PER_NODE";
      localWorld = DistEnv.requiredInt(env, localWorldKey);
    } else if (env.containsKey("SLURM_TASKS_PER_NODE")) {
      localWorldKey = "SLURM_TASKS_PER_NODE";
      localWorld = tasksOnThisNode(env);
    } else {
      throw new IllegalArgumentException(
          "SLURM_PROCID is set but neither SLURM_NTASKS_PER_NODE nor SLURM_TASKS_PER_NODE is;"
              + " start the ranks with srun, or export LOCAL_WORLD_SIZE with RANK and WORLD_SIZE");
    }
    DistEnv.Keys keys = new DistEnv.Keys("SLURM_PROCID", worldKey, "SLURM_LOCALID", localWorldKey);
    return DistEnv.placed(
        keys, rank, world, localRank, localWorld, withMaster(env, world, localWorld));
  }

  /**
   * Adds MASTER_ADDR from the first host of the step's node list when the user did not set it.
   *
   * <p>Note [slurm master]: task 0 runs on the first node of the step under SLURM's block and
   * cyclic distributions, so that host is the rendezvous host. SLURM_LAUNCH_NODE_IPADDR is not
   * used: it is the host where srun ran, which is a login node when srun is called outside an
   * allocation.
   */
  private static Map<String, String> withMaster(
      Map<String, String> env, int world, int localWorld) {
    String set = env.get("MASTER_ADDR");
    if ((set != null && !set.isBlank()) || localWorld == world) {
      return env;
    }
    for (String key : List.of("SLURM_STEP_NODELIST", "SLURM_JOB_NODELIST", "SLURM_NODELIST")) {
      String list = env.get(key);
      if (list != null && !list.isBlank()) {
        String host = firstHost(list.strip());
        if (host == null) {
          throw new IllegalArgumentException(
              key
                  + "='"
                  + list
                  + "' is too complex to find rank 0's host in; export MASTER_ADDR=<host of task 0>");
        }
        Map<String, String> copy = new java.util.HashMap<>(env);
        copy.put("MASTER_ADDR", host);
        return copy;
      }
    }
    return env;
  }

  /**
   * The first host of a SLURM hostlist ({@code a1,a2}, {@code node[01-04,09]}, {@code r[1-2]n}), or
   * null for forms with several bracket groups such as {@code r[1-2]n[1-4]}.
   */
  static String firstHost(String hostlist) {
    int depth = 0;
    int end = hostlist.length();
    for (int i = 0; i < hostlist.length(); i++) {
      char c = hostlist.charAt(i);
      if (c == '[') {
        depth++;
      } else if (c == ']') {
        depth--;
      } else if (c == ',' && depth == 0) {
        end = i;
        break;
      }
    }
    String item = hostlist.substring(0, end);
    if (item.isEmpty()) {
      return null;
    }
    if (item.indexOf('[') < 0 && item.indexOf(']') < 0) {
      return item;
    }
    Matcher m = RANGED_HOST.matcher(item);
    return m.matches() ? m.group(1) + m.group(2) + m.group(3) : null;
  }

  /** This node's entry of SLURM_TASKS_PER_NODE ({@code 2(x3),1}), indexed by SLURM_NODEID. */
  private static int tasksOnThisNode(Map<String, String> env) {
    String raw = env.get("SLURM_TASKS_PER_NODE");
    List<Integer> perNode = expandTasksPerNode(raw);
    if (perNode.stream().distinct().count() == 1) {
      return perNode.get(0);
    }
    int node = DistEnv.requiredInt(env, "SLURM_NODEID");
    if (node >= perNode.size()) {
      throw new IllegalArgumentException(
          "SLURM_NODEID="
              + node
              + " is past the "
              + perNode.size()
              + " nodes in SLURM_TASKS_PER_NODE='"
              + raw
              + "'");
    }
    return perNode.get(node);
  }

  /** Expands {@code 2(x3),1} to {@code [2, 2, 2, 1]}. */
  static List<Integer> expandTasksPerNode(String raw) {
    List<Integer> counts = new ArrayList<>();
    for (String item : raw.strip().split(",")) {
      Matcher m = TASKS_ITEM.matcher(item.strip());
      if (!m.matches()) {
        throw new IllegalArgumentException(
            "SLURM_TASKS_PER_NODE='"
                + raw
                + "' is not a list like '2(x3),1'; export SLURM_NTASKS_PER_NODE instead");
      }
      int count =
          DistEnv.requiredInt(Map.of("SLURM_TASKS_PER_NODE", m.group(1)), "SLURM_TASKS_PER_NODE");
      int repeat = m.group(2) == null ? 1 : Integer.parseInt(m.group(2));
      if (repeat > 1 << 20) {
        throw new IllegalArgumentException(
            "SLURM_TASKS_PER_NODE='" + raw + "' repeats an entry " + repeat + " times, too many");
      }
      for (int i = 0; i < repeat; i++) {
        counts.add(count);
      }
    }
    return counts;
  }
}
