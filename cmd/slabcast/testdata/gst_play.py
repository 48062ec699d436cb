#!/usr/bin/python3
"""Plays a live MPD with GStreamer's DASH demuxer for players_test.go's
gstPlays: souphttpsrc ! decodebin3 (dashdemux2 and the decoders) to
fakesinks with sync=true, in real time.

Unlike gst-launch-1.0 it does not hold the pipeline in PAUSED while the
demuxer reports buffering below 100%: adaptivedemux2 aims at 30 s of
buffered media, which a live window of a few segments never holds, so a
live player must play on (as GStreamer's own playback applications do for
live sources). It prints lines in gst-launch -v's shapes, which gstPlays
reads: 'Setting pipeline to PLAYING', 'element "NAME"' for each DASH
demuxer, 'GstFakeSink:sinkN.GstPad:sink: caps = CAPS', '(sinkN) ... pts:
H:MM:SS.NNNNNNNNN' for each buffer, and 'ERROR: ...'.
"""
import sys

import gi

gi.require_version("Gst", "1.0")
from gi.repository import GLib, Gst  # noqa: E402

Gst.init(None)
url = sys.argv[1]
pipeline = Gst.parse_launch(
    f'souphttpsrc location="{url}" ! application/dash+xml ! decodebin3 name=db')
db = pipeline.get_by_name("db")
sinks = []


def say(line):
    print(line, flush=True)


def on_element(_bin, _sub, element):
    name = element.get_name()
    if "dashdemux" in name or "adaptivedemux" in name:
        say(f'element "{name}"')


def on_handoff(sink, buf, pad):
    name = sink.get_name()
    if not getattr(sink, "_caps_said", False):
        caps = pad.get_current_caps()
        say(f"GstFakeSink:{name}.GstPad:sink: caps = {caps.to_string() if caps else '(none)'}")
        sink._caps_said = True
    if buf.pts != Gst.CLOCK_TIME_NONE:
        t = buf.pts
        h, rest = divmod(t, 3600 * Gst.SECOND)
        m, rest = divmod(rest, 60 * Gst.SECOND)
        s, ns = divmod(rest, Gst.SECOND)
        say(f"({name}) chain: pts: {h}:{m:02d}:{s:02d}.{ns:09d}")


def on_pad(_db, pad):
    sink = Gst.ElementFactory.make("fakesink", f"sink{len(sinks)}")
    sink.set_property("sync", True)
    sink.set_property("signal-handoffs", True)
    sink.connect("handoff", on_handoff)
    q = Gst.ElementFactory.make("queue")
    pipeline.add(q)
    pipeline.add(sink)
    q.link(sink)
    q.sync_state_with_parent()
    sink.sync_state_with_parent()
    pad.link(q.get_static_pad("sink"))
    sinks.append(sink)


db.connect("pad-added", on_pad)
db.connect("deep-element-added", on_element)
pipeline.connect("deep-element-added", on_element)
loop = GLib.MainLoop()
said_playing = False


def on_message(_bus, msg):
    global said_playing
    if msg.type == Gst.MessageType.ERROR:
        err, dbg = msg.parse_error()
        say(f"ERROR: from element {msg.src.get_path_string()}: {err.message} ({dbg})")
        loop.quit()
    elif msg.type == Gst.MessageType.EOS:
        say("Got EOS from element")
        loop.quit()
    elif msg.type == Gst.MessageType.STATE_CHANGED and msg.src == pipeline:
        _old, new, _pending = msg.parse_state_changed()
        if new == Gst.State.PLAYING and not said_playing:
            say("Setting pipeline to PLAYING ...")
            said_playing = True


bus = pipeline.get_bus()
bus.add_signal_watch()
bus.connect("message", on_message)
pipeline.set_state(Gst.State.PLAYING)
try:
    loop.run()
finally:
    pipeline.set_state(Gst.State.NULL)
