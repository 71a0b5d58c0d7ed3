package controller

import (
	"testing"

	eventsv1 "k8s.io/api/events/v1"

	"github.com/sgxops/sgxops/internal/k8stest"
)

func skip(t testing.TB) { k8stest.Skip(t) }

type eventsList struct{ l eventsv1.EventList }
