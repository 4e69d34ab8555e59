#!/usr/bin/perl
# tap-relay.pl TAP IFACE — the "VM" side of a tap that bridges its NIC to a LAN: wait (up to 10 s) until the tap TAP
# exists, attach to it as a VM's emulator does (open /dev/net/tun, TUNSETIFF with IFF_TAP|IFF_NO_PI; only then does the
# tap get a carrier), print "attached", then pass Ethernet frames both ways between the tap and IFACE (an AF_PACKET
# socket, in the same netns) until killed or the tap is deleted. Never creates the tap: it waits for it to exist.
use strict;
use warnings;
my ($tap, $iface) = @ARGV;
die "usage: tap-relay.pl TAP IFACE\n" unless $tap && $iface;
my $TUNSETIFF = 0x400454ca;
my ($AF_PACKET, $SOCK_RAW, $ETH_P_ALL, $PACKET_OUTGOING) = (17, 3, 0x0003, 4);
$| = 1;

for (my $i = 0; !-e "/sys/class/net/$tap"; $i++) {
  die "no $tap after 10 s\n" if $i > 1000;
  select(undef, undef, undef, 0.01);
}
open(my $fh, '+<', '/dev/net/tun') or die "open /dev/net/tun: $!\n";
ioctl($fh, $TUNSETIFF, pack('Z16 s', $tap, 0x0002 | 0x1000)) or die "TUNSETIFF $tap: $!\n";

open(my $ix, '<', "/sys/class/net/$iface/ifindex") or die "no $iface: $!\n";
chomp(my $ifindex = <$ix>);
close $ix;
my $proto = unpack('S', pack('n', $ETH_P_ALL)); # htons
socket(my $ps, $AF_PACKET, $SOCK_RAW, $proto) or die "packet socket: $!\n";
bind($ps, pack('S n i S C C a8', $AF_PACKET, $ETH_P_ALL, $ifindex, 0, 0, 0, '')) or die "bind $iface: $!\n";
print "attached\n";

while (1) {
  my $rin = '';
  vec($rin, fileno($fh), 1) = 1;
  vec($rin, fileno($ps), 1) = 1;
  next unless select(my $rout = $rin, undef, undef, 1);
  if (vec($rout, fileno($fh), 1)) {
    my $n = sysread($fh, my $buf, 65536);
    exit 0 unless $n; # the tap is gone
    send($ps, $buf, 0);
  }
  if (vec($rout, fileno($ps), 1)) {
    my $from = recv($ps, my $buf, 65536, 0);
    next unless defined $from && length($from) >= 11;
    next if unpack('C', substr($from, 10, 1)) == $PACKET_OUTGOING; # our own sends on IFACE
    syswrite($fh, $buf);
  }
}
