#!/usr/bin/python3
# `gnt-cluster init` for a test cluster on 127.0.0.0/8. Ganeti refuses that twice, and this
# process (only this one) lets it: bootstrap.InitCluster rejects a loopback node address
# (IP4Address.IsLoopback), and takes the cluster address for one in use because TcpPing counts a
# refused connection, which every 127.x address answers, as alive. Run it with the system Python,
# which has Ganeti's modules; the arguments are gnt-cluster's.
import glob
import os
import sys

# Ganeti's modules: /usr/share/ganeti/default is the package's link to the installed version (3.1);
# 3.0 has only the versioned directory.
share = "/usr/share/ganeti/default"
if not os.path.isdir(os.path.join(share, "ganeti")):
    share = sorted(glob.glob("/usr/share/ganeti/[0-9]*"))[-1]
sys.path.insert(0, share)
from ganeti import netutils  # noqa: E402

CLUSTER_IP = sys.argv.pop(1)
netutils.IP4Address.IsLoopback = classmethod(lambda cls, address: False)
_ping = netutils.TcpPing


def ping(target, port, timeout=10, live_port_needed=False, source=None):
    if target == CLUSTER_IP and not live_port_needed:
        return False
    return _ping(target, port, timeout=timeout, live_port_needed=live_port_needed, source=source)


netutils.TcpPing = ping
import ganeti.client.gnt_cluster as gnt_cluster  # noqa: E402

sys.argv[0] = "gnt-cluster"
sys.exit(gnt_cluster.Main())
