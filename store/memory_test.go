package store_test

import (
	"testing"

	"github.com/sgxops/sgxops/store"
	"github.com/sgxops/sgxops/store/storetest"
)

func TestMemoryConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store { return store.NewMemory() })
}
