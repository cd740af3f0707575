#!/usr/bin/python3
"""Sums a flat `perf report --sort dso,sym -g none --stdio` (on stdin) into
buckets by symbol name: kernel TCP/IP and buffers, interrupts/scheduling/
paravirt, io_uring, fd lookup, other kernel, and user space per library.
Used by bench/profile.sh. Buckets are by name pattern, so they are
approximate; the top-symbol list printed beside them is the evidence."""
import sys,re,collections
b=collections.Counter(); tot=0
for line in sys.stdin:
    m=re.match(r'\s*([\d.]+)%\s+(\S+)\s+\[(.)\]\s+(\S+)',line)
    if not m: continue
    p=float(m.group(1)); dso=m.group(2); sym=m.group(4); tot+=p
    if m.group(3)!='k': k='user: '+dso.split('/')[-1]
    elif re.match(r'(pvm_|pvclock|native_|_raw_spin|finish_task|schedule|__schedule|psi|update_|enqueue|dequeue|try_to_wake|ttwu|select_task|pick_|__switch|switch_|irq|handle_softirq|sysvec|asm_)',sym): k='kernel: irq/sched/paravirt'
    elif re.match(r'(io_|__io|io_uring)',sym): k='kernel: io_uring'
    elif sym in('fget','fput','sock_from_file','__fget_light','fdget','__fdget','fget_task') or sym.startswith('fget'): k='kernel: fd lookup (fget/fput)'
    elif re.match(r'(tcp|__tcp|inet|__inet|ip_|__ip|skb|__skb|kfree_skb|napi|net_|__netif|netif|dev_|__dev|sock|__sock|sk_|__sk|bbr|loopback|process_backlog|__copy_skb|_copy_|copy_|lock_sock|release_sock|__release_sock|validate_xmit|__napi|__kfree_skb|kmem|kmalloc|__kmalloc|slab|__slab|kfree|ktime|nf_|__x64_sys_sendto|rb_|tcp_v4|ipv4|raw_local|mod_timer|__mod_timer|llist|security|bpf|__build_skb|__alloc_skb|alloc_skb|consume_skb|__local_bh|local_bh|__put_user|memcpy|memset|rep_movs)',sym): k='kernel: TCP/IP, skb, copies, slab'
    else: k='kernel: other'
    b[k]+=p
for k,v in b.most_common(): print("%6.1f%%  %s"%(v,k))
print("total %.1f"%tot)
