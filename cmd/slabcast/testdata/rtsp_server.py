#!/usr/bin/python3
"""Test RTSP source server built on GStreamer's gst-rtsp-server.

Used as a real third-party RTSP server for integration tests of an RTSP pull
input. Run it with Debian's /usr/bin/python3 (python3-gi lives there, not in a
pyenv interpreter).

Protocol towards the test harness:
  * stdout gets "PORT <n>" and then "READY" (each on its own line, flushed)
    once the RTSP socket is bound and listening; nothing else goes to stdout.
  * diagnostics go to stderr.
  * SIGTERM / SIGINT / SIGHUP -> clients are disconnected, pipelines stopped,
    exit 0 (takes ~20-70 ms).
  * if the RTSP port cannot be bound -> message on stderr, exit 2.
  * if a needed GStreamer element is missing -> message on stderr, exit 3.
  * --exit-on-stdin-eof: exit as soon as stdin is closed (so that the server
    dies with the harness that spawned it with a pipe on stdin).
  * --lifetime N: exit by itself (code 0) after N seconds (safety bound).

Everything (RTSP listener and the RTP/RTCP UDP sockets) binds 127.0.0.1 only;
multicast is never offered (it is not in the allowed lower transports and the
address pool holds no multicast range).
"""

import argparse
import os
import signal
import sys

import gi

gi.require_version("Gst", "1.0")
gi.require_version("GstRtsp", "1.0")
gi.require_version("GstRtspServer", "1.0")
gi.require_version("GstVideo", "1.0")
from gi.repository import GLib, Gst, GstRtsp, GstRtspServer, GstVideo  # noqa: E402

BIND_ADDR = "127.0.0.1"


def log(msg):
    sys.stderr.write("rtsp_server: %s\n" % msg)
    sys.stderr.flush()


def have(factory_name):
    return Gst.ElementFactory.find(factory_name) is not None


def pick_aac_encoder(preferred):
    # fdkaacenc is not built in Debian (non-free), avenc_aac comes from
    # gstreamer1.0-libav, voaacenc from gstreamer1.0-plugins-bad.
    if preferred != "auto":
        if not have(preferred):
            log("AAC encoder %s not available" % preferred)
            sys.exit(3)
        return preferred
    for name in ("avenc_aac", "voaacenc", "fdkaacenc"):
        if have(name):
            return name
    log("no AAC encoder found (need avenc_aac, voaacenc or fdkaacenc)")
    sys.exit(3)


def video_branch(args, codec):
    """Raw test video -> encoded elementary stream (byte-stream, no payloader)."""
    src = (
        "videotestsrc is-live=true pattern={pattern} "
        "! video/x-raw,format=I420,width={w},height={h},framerate={fps}/1,"
        "pixel-aspect-ratio=1/1 "
        "! queue max-size-buffers=5 leaky=downstream "
    ).format(pattern=args.pattern, w=args.width, h=args.height, fps=args.fps)
    gop = args.gop
    if codec == "h264":
        # scenecut=0 + min-keyint=keyint => strictly fixed GOP (IDR every `gop`
        # frames); no lookahead so the first frame out is the first IDR.
        tune = "tune=zerolatency " if args.bframes == 0 else ""
        # slices=N with sliced-threads=false: exactly N slices per picture
        # (default 1; tune=zerolatency alone would give one slice per thread).
        opts = ("scenecut=0:min-keyint={g}:keyint={g}:bframes={b}:sync-lookahead=0:"
                "rc-lookahead=0:slices={s}").format(g=gop, b=args.bframes, s=args.slices)
        if args.bframes:
            opts += ":b-pyramid=0"
        enc = (
            "x264enc {tune}speed-preset=ultrafast key-int-max={g} bframes={b} sliced-threads=false "
            "bitrate={br} byte-stream=true option-string=\"{opts}\" "
            "! video/x-h264,stream-format=byte-stream,profile={prof} "
        ).format(tune=tune, g=gop, b=args.bframes, br=args.bitrate, opts=opts,
                 prof="main" if args.bframes else "constrained-baseline")
    elif codec == "h265":
        # open-gop=0 => IDR (not CRA) key frames; repeat-headers => VPS/SPS/PPS
        # in-band before every key frame.
        opts = ("keyint={g}:min-keyint={g}:scenecut=0:open-gop=0:bframes=0:"
                "repeat-headers=1:rc-lookahead=0:info=0").format(g=gop)
        enc = (
            "x265enc tune=zerolatency speed-preset=ultrafast key-int-max={g} "
            "bitrate={br} log-level=error option-string=\"{opts}\" "
            "! video/x-h265,stream-format=byte-stream,profile=main "
        ).format(g=gop, br=args.bitrate, opts=opts)
    else:
        raise ValueError(codec)
    return src + "! " + enc


def audio_branch(args):
    enc = pick_aac_encoder(args.aac_encoder)
    return (
        "audiotestsrc is-live=true wave=sine freq=440 volume=0.3 "
        "! audio/x-raw,rate={rate},channels={ch} "
        "! audioconvert ! audioresample ! queue max-size-buffers=10 leaky=downstream "
        "! {enc} bitrate={br} ! aacparse "
    ).format(rate=args.audio_rate, ch=args.audio_channels, enc=enc, br=args.audio_bitrate)


def build_launch(args):
    if args.codec in ("h264", "h265"):
        pay = "rtph264pay" if args.codec == "h264" else "rtph265pay"
        # config-interval=0: the encoders already repeat SPS/PPS (and VPS) in-band
        # before every IDR. config-interval=-1 would make rtph264pay insert them
        # again before *every* IDR slice, i.e. between the slices of one picture
        # when --slices > 1, which splits the picture in two for ffmpeg.
        parts = [video_branch(args, args.codec)
                 + "! {pay} name=pay0 pt=96 config-interval=0 ".format(pay=pay)]
        if args.audio:
            # RFC 3640 mpeg4-generic / AAC-hbr
            parts.append(audio_branch(args) + "! rtpmp4gpay name=pay1 pt=97")
        return "( " + "  ".join(parts) + " )"
    # mp2t: one MPEG-TS stream (video [+ AAC]) in RTP, static payload type 33
    v = video_branch(args, args.ts_video) + "! queue ! mux. "
    a = (audio_branch(args) + "! queue ! mux. ") if args.audio else ""
    return (
        "( mpegtsmux name=mux alignment=7 ! rtpmp2tpay name=pay0 pt=33 "
        + v + a + ")"
    )


def make_auth(args):
    if not args.user:
        return None
    auth = GstRtspServer.RTSPAuth()
    token = GstRtspServer.RTSPToken()
    token.set_string(GstRtspServer.RTSP_TOKEN_MEDIA_FACTORY_ROLE, "user")
    if args.auth == "basic":
        auth.add_basic(GstRtspServer.RTSPAuth.make_basic(args.user, args.password), token)
        if hasattr(auth, "set_supported_methods"):
            auth.set_supported_methods(GstRtsp.RTSPAuthMethod.BASIC)
    else:
        # set_supported_methods() exists since gst-rtsp-server 1.16. (Basic and
        # Digest at once can't be asked for from Python: the GIR types the
        # argument as an enum, so BASIC|DIGEST is rejected.)
        if not hasattr(auth, "set_supported_methods"):
            raise SystemExit("rtsp_server: digest auth needs gst-rtsp-server >= 1.16")
        auth.add_digest(args.user, args.password, token)
        auth.set_supported_methods(GstRtsp.RTSPAuthMethod.DIGEST)
    if args.realm and hasattr(auth, "set_realm"):
        auth.set_realm(args.realm)
    return auth


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--port", type=int, default=8554, help="RTSP TCP port on 127.0.0.1 (0 = pick a free one; printed as 'PORT n')")
    p.add_argument("--path", default="/source", help="mount point, e.g. /source")
    p.add_argument("--codec", choices=["h264", "h265", "mp2t"], default="h264")
    p.add_argument("--ts-video", choices=["h264", "h265"], default="h264", help="video codec inside MPEG-TS (--codec mp2t)")
    p.add_argument("--audio", action="store_true", help="add an AAC track (own RTP stream pt 97, or muxed into the TS for mp2t)")
    p.add_argument("--aac-encoder", default="auto", help="auto|avenc_aac|voaacenc|fdkaacenc")
    p.add_argument("--user")
    p.add_argument("--password", default="")
    p.add_argument("--auth", choices=["digest", "basic"], default="digest", help="auth method when --user is given")
    p.add_argument("--realm", default=None, help="auth realm (gst default: 'GStreamer RTSP Server')")
    p.add_argument("--transport", choices=["tcp", "udp", "both"], default="both", help="allowed lower transports")
    p.add_argument("--rtp-port-min", type=int, default=30000, help="server-side UDP port range (RTP+RTCP pairs)")
    p.add_argument("--rtp-port-max", type=int, default=30999)
    p.add_argument("--width", type=int, default=320)
    p.add_argument("--height", type=int, default=240)
    p.add_argument("--fps", type=int, default=25)
    p.add_argument("--gop", type=int, default=25, help="frames between key frames (fixed)")
    p.add_argument("--bframes", type=int, default=0, help="H.264 B-frames (0 = none, default)")
    p.add_argument("--slices", type=int, default=1, help="H.264 slices per picture")
    p.add_argument("--bitrate", type=int, default=500, help="video kbit/s")
    p.add_argument("--pattern", default="smpte", help="videotestsrc pattern (smpte, ball, ...)")
    p.add_argument("--audio-rate", type=int, default=48000)
    p.add_argument("--audio-channels", type=int, default=2)
    p.add_argument("--audio-bitrate", type=int, default=64000)
    p.add_argument("--not-shared", action="store_true", help="one pipeline per client instead of a shared one")
    p.add_argument("--seekable", action="store_true",
                   help="keep gst default (media seekable): every new PLAY with a Range restarts the shared pipeline")
    p.add_argument("--keyframe-on-play", action="store_true",
                   help="force a key frame each time a client starts playing")
    p.add_argument("--session-timeout", type=int, default=0,
                   help="RTSP session timeout in s (gst default 60; announced in the Session header)")
    p.add_argument("--latency", type=int, default=200, help="rtpbin latency (ms)")
    p.add_argument("--exit-on-stdin-eof", action="store_true")
    p.add_argument("--lifetime", type=float, default=0, help="exit after this many seconds (0 = never)")
    p.add_argument("--print-launch", action="store_true", help="print the pipeline to stderr")
    return p.parse_args(argv)


def main(argv):
    args = parse_args(argv)
    if not args.path.startswith("/"):
        args.path = "/" + args.path
    Gst.init(None)

    launch = build_launch(args)
    if args.print_launch:
        log("launch: " + launch)
    # Fail fast (exit 3) if a plugin is missing, instead of answering every
    # DESCRIBE with 503 later. parse_launch doesn't start anything.
    try:
        probe_bin = Gst.parse_launch(launch)
        probe_bin.set_state(Gst.State.NULL)
        del probe_bin
    except GLib.Error as e:
        log("pipeline does not build (missing GStreamer plugin?): %s" % e.message)
        return 3

    server = GstRtspServer.RTSPServer()
    server.set_address(BIND_ADDR)
    server.set_service(str(args.port))

    factory = GstRtspServer.RTSPMediaFactory()
    factory.set_launch(launch)
    factory.set_shared(not args.not_shared)
    factory.set_latency(args.latency)
    protos = {
        "tcp": GstRtsp.RTSPLowerTrans.TCP,
        "udp": GstRtsp.RTSPLowerTrans.UDP,
        "both": GstRtsp.RTSPLowerTrans.UDP | GstRtsp.RTSPLowerTrans.TCP,
    }[args.transport]
    factory.set_protocols(protos)
    if not args.seekable:
        # A PLAY carrying "Range: npt=0.000-" (ffmpeg always sends one) makes
        # gst-rtsp-server do a flushing seek on the media. With a *shared* live
        # pipeline that restarts videotestsrc/encoders for everybody: the
        # clients already playing see timestamps jump back to 0. RFC 7273
        # clock+offset mode makes the media report itself non-seekable
        # (check_seekable() -> -1), so the Range is ignored and PLAY still
        # answers 200. (The SDP looked the same in both modes here:
        # a=ts-refclk:local, a=mediaclk:sender.)
        factory.set_publish_clock_mode(GstRtspServer.RTSPPublishClockMode.CLOCK_AND_OFFSET)

    # Without a pool holding a unicast range, gst-rtsp-server binds the RTP/RTCP
    # UDP sockets to the wildcard address. A unicast range 127.0.0.1-127.0.0.1
    # (ttl 0 == unicast) makes it bind them to 127.0.0.1 in the given ports.
    pool = GstRtspServer.RTSPAddressPool()
    if not pool.add_range(BIND_ADDR, BIND_ADDR, args.rtp_port_min, args.rtp_port_max, 0):
        raise SystemExit("rtsp_server: bad UDP port range")
    factory.set_address_pool(pool)

    auth = make_auth(args)
    if auth is not None:
        server.set_auth(auth)
        factory.add_role_from_structure(Gst.Structure.new_from_string(
            "user, media.factory.access=(boolean)true, media.factory.construct=(boolean)true"))

    server.get_mount_points().add_factory(args.path, factory)

    if args.keyframe_on_play:
        # Ask the encoder(s) for an IDR (with headers) whenever any client has
        # finished a PLAY, so a client joining a running shared media does not
        # wait up to one GOP. Off by default: real cameras don't do this.
        medias = []

        def on_media_configure(fac, media):
            medias.append(media)
            media.connect("unprepared", lambda m: medias.remove(m) if m in medias else None)

        def force_keyframes(client, ctx):
            for media in list(medias):
                el = media.get_element()
                for i in range(4):
                    pay = el.get_by_name("pay%d" % i) if el else None
                    if pay is None:
                        break
                    ev = GstVideo.video_event_new_upstream_force_key_unit(Gst.CLOCK_TIME_NONE, True, 0)
                    pay.get_static_pad("src").send_event(ev)

        factory.connect("media-configure", on_media_configure)
        server.connect("client-connected",
                       lambda srv, client: client.connect("play-request", force_keyframes))

    if args.session_timeout:
        server.connect("client-connected", lambda srv, client: client.connect(
            "new-session", lambda c, sess: sess.set_timeout(args.session_timeout)))

    loop = GLib.MainLoop()
    state = {"code": 0}

    def shutdown(reason, code=0):
        log("shutting down (%s)" % reason)
        state["code"] = code
        # drop all client connections so shared media gets unprepared
        server.client_filter(lambda srv, client, *a: GstRtspServer.RTSPFilterResult.REMOVE, None)
        loop.quit()
        return GLib.SOURCE_REMOVE

    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        GLib.unix_signal_add(GLib.PRIORITY_HIGH, sig, shutdown, signal.Signals(sig).name)

    if args.lifetime > 0:
        GLib.timeout_add(int(args.lifetime * 1000), shutdown, "lifetime elapsed")

    if args.exit_on_stdin_eof:
        def on_stdin(fd, cond):
            try:
                data = os.read(fd, 4096)
            except OSError:
                data = b""
            if not data or cond & (GLib.IOCondition.HUP | GLib.IOCondition.ERR):
                shutdown("stdin closed")
                return GLib.SOURCE_REMOVE
            return GLib.SOURCE_CONTINUE
        GLib.unix_fd_add_full(GLib.PRIORITY_DEFAULT, sys.stdin.fileno(),
                              GLib.IOCondition.IN | GLib.IOCondition.HUP | GLib.IOCondition.ERR, on_stdin)

    # attach() creates, binds and listens on the socket synchronously.
    try:
        source_id = server.attach(None)
    except GLib.Error as e:  # pragma: no cover
        log("cannot listen on %s:%s: %s" % (BIND_ADDR, args.port, e.message))
        return 2
    if source_id == 0:
        log("cannot listen on %s:%s" % (BIND_ADDR, args.port))
        return 2
    port = server.get_bound_port()

    # periodic session cleanup (timed-out UDP clients)
    GLib.timeout_add_seconds(2, lambda: (server.get_session_pool().cleanup(), True)[1])

    log("serving rtsp://%s:%d%s codec=%s audio=%s auth=%s transport=%s shared=%s" % (
        BIND_ADDR, port, args.path, args.codec, args.audio,
        (args.auth if args.user else "none"), args.transport, not args.not_shared))
    sys.stdout.write("PORT %d\nREADY\n" % port)
    sys.stdout.flush()

    loop.run()
    return state["code"]


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
