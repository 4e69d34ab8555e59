#!/usr/bin/perl
# Attach to a tap device the way a VM's emulator does (open /dev/net/tun, TUNSETIFF with IFF_TAP|IFF_NO_PI), print
# "attached", then exchange ARP with the other side of the tap:
#   tap-attach.pl NAME listen IP               wait for an ARP request asking for IP; print "request from <mac>"
#   tap-attach.pl NAME ask MAC IP TARGET_IP    send "who has TARGET_IP, tell IP (MAC)"; print "reply from <mac>"
# Gives up after 5 s (exit 1). Perl because it is on every Debian (perl-base) and can make the ioctl.
use strict;
use warnings;
my ($name, $mode, @a) = @ARGV;
my $TUNSETIFF = 0x400454ca;
open(my $fh, '+<', '/dev/net/tun') or die "open /dev/net/tun: $!\n";
ioctl($fh, $TUNSETIFF, pack('Z16 s', $name, 0x0002 | 0x1000)) or die "TUNSETIFF $name: $!\n";
$| = 1;
print "attached\n";
local $SIG{ALRM} = sub { die "timeout: no matching ARP frame\n" };
alarm 5;
my $ip = sub { pack('C4', split /\./, $_[0]) };
my $mac = sub { my $m = $_[0]; $m =~ s/://g; pack('H12', $m) };
my $show = sub { join ':', unpack('(H2)6', $_[0]) };
my $frame;
if ($mode eq 'ask') {
  my ($smac, $sip, $tip) = @a;
  $frame = ("\xff" x 6) . $mac->($smac) . pack('n', 0x0806) . pack('n n C C n', 1, 0x0800, 6, 4, 1) . $mac->($smac) . $ip->($sip) . ("\0" x 6) . $ip->($tip);
}
while (1) {
  # asking: (re)send every 200 ms, as ARP does (a bridge port forwards only once it has seen the carrier come up)
  if ($frame) {
    syswrite($fh, $frame) or die "write: $!\n";
    my $rin = '';
    vec($rin, fileno($fh), 1) = 1;
    next unless select(my $rout = $rin, undef, undef, 0.2);
  }
  my $n = sysread($fh, my $buf, 65536);
  die "read: $!\n" unless $n;
  next if $n < 42 || unpack('n', substr($buf, 12, 2)) != 0x0806;
  my ($op, $sha, $spa, $tpa) = (unpack('n', substr($buf, 20, 2)), substr($buf, 22, 6), substr($buf, 28, 4), substr($buf, 38, 4));
  if ($mode eq 'listen' && $op == 1 && $tpa eq $ip->($a[0])) { print 'request from ', $show->($sha), "\n"; exit 0; }
  if ($mode eq 'ask' && $op == 2 && $spa eq $ip->($a[2])) { print 'reply from ', $show->($sha), "\n"; exit 0; }
}
