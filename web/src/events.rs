//! Server-sent events in the browser: a page listens to a stream (an operation's progress, a
//! service's log) for as long as the component that opened it lives. The browser's
//! `EventSource` reconnects by itself after a dropped connection, sending the id of the last
//! event it received as `Last-Event-ID`, so the server goes on from there; the handlers still
//! skip anything they already have, so that a line is never shown twice.
//!
//! On the server, [`listen`] does nothing: pages render what the stream will add to.

/// Whether a stream goes on after an event.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Flow {
    /// Keep listening.
    Continue,
    /// Close the stream: its last event came.
    Stop,
}

/// Listens to the server-sent events at `url`: `on_event(name, data)` for each event named in
/// `names`, until it answers [`Flow::Stop`] or the current owner (the component) is cleaned
/// up; `on_failed` when the browser gives up on the stream (the server refused it, so it will
/// not reconnect by itself).
#[cfg(feature = "hydrate")]
pub fn listen<F, G>(url: &str, names: &[&'static str], on_event: F, on_failed: G)
where
    F: Fn(&str, String) -> Flow + 'static,
    G: Fn() + 'static,
{
    use std::rc::Rc;

    use leptos::{
        __reexports::send_wrapper::SendWrapper,
        prelude::on_cleanup,
        wasm_bindgen::{JsCast, closure::Closure},
    };
    use web_sys::{EventSource, MessageEvent};

    let Ok(source) = EventSource::new(url) else {
        on_failed();
        return;
    };
    let on_event = Rc::new(on_event);
    let listeners: Vec<Closure<dyn FnMut(MessageEvent)>> = names
        .iter()
        .map(|&name| {
            let on_event = Rc::clone(&on_event);
            let stream = source.clone();
            let listener = Closure::<dyn FnMut(MessageEvent)>::new(move |event: MessageEvent| {
                let data = event.data().as_string().unwrap_or_default();
                if on_event(name, data) == Flow::Stop {
                    stream.close();
                }
            });
            // Adding a listener to a live EventSource cannot fail.
            let _ =
                source.add_event_listener_with_callback(name, listener.as_ref().unchecked_ref());
            listener
        })
        .collect();
    let stream = source.clone();
    let on_error = Closure::<dyn FnMut(web_sys::Event)>::new(move |_| {
        if stream.ready_state() == EventSource::CLOSED {
            on_failed();
        }
    });
    source.set_onerror(Some(on_error.as_ref().unchecked_ref()));
    let open = SendWrapper::new((source, listeners, on_error));
    on_cleanup(move || {
        let (source, _listeners, _on_error) = open.take();
        source.close();
    });
}

/// On the server: nothing (see the module's doc).
#[cfg(not(feature = "hydrate"))]
pub fn listen<F, G>(_url: &str, _names: &[&'static str], _on_event: F, _on_failed: G)
where
    F: Fn(&str, String) -> Flow + 'static,
    G: Fn() + 'static,
{
}
